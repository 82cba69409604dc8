/** `robustok validate <spec>` and `robustok schema`: check a spec without starting anything. */
import { specJsonSchema } from '../../spec';
import { stageCatalog } from '../../stages/catalog';
import { loadPlan, reportIssues } from '../load-plan';

export async function validateCommand(file: string, o: { set: string[]; json?: boolean }): Promise<number> {
  const planned = await loadPlan(file, o.set, { statSources: false });
  if (!planned.ok) return reportIssues(planned.issues, o.json === true);
  const { plan } = planned;
  const merged = plan.runs.filter((r) => r.arms.length > 1).length;
  if (o.json)
    console.log(
      JSON.stringify(
        { ok: true, name: plan.name, stages: planned.loaded.spec.stages.length, arms: plan.arms.length, runs: plan.runs.length, mergedRuns: merged },
        null,
        2,
      ),
    );
  else
    console.log(
      `✔ ${file}: pipeline '${plan.name}' is valid — ${planned.loaded.spec.stages.length} stages, ${plan.arms.length} arm(s), ${plan.runs.length} stage runs (${merged} shared across arms)`,
    );
  return 0;
}

export function schemaCommand(): number {
  console.log(JSON.stringify(specJsonSchema(stageCatalog), null, 2));
  return 0;
}
