/**
 * Spec file → validated spec → plan, or the issues printed as file:line:column (exit code 2).
 * Nothing is started before this succeeds.
 */
import { formatIssues, loadSpecFile, type LoadedSpec, type SpecIssue } from '../spec';
import { buildPlan } from '../plan';
import { MAX_PLAN_BYTES, planTooLarge } from '../plan/plan-size';
import type { Plan } from '../plan/types';
import { stageCatalog } from '../stages/catalog';
import { resolveEnvironment } from './env-resolution';
import { pinSourceStats } from './source-fingerprint';

export type Planned = { ok: true; loaded: LoadedSpec; plan: Plan } | { ok: false; issues: SpecIssue[] };

/**
 * `statSources: false` skips stating import sources (cli/source-fingerprint.ts): `validate` shows no
 * cache keys, and a directory source such as ImageNet is over a million stat calls.
 */
export async function loadPlan(file: string, sets: readonly string[], o: { statSources?: boolean } = {}): Promise<Planned> {
  const loaded = await loadSpecFile(file, stageCatalog, sets);
  if (!loaded.ok) return { ok: false, issues: loaded.error };
  const resolved = await resolveEnvironment(loaded.value.spec, process.env);
  if (resolved.issues.length > 0) return { ok: false, issues: resolved.issues.map((i) => ({ ...i, ...loaded.value.sourceMap.locate(i.path, 'value') })) };
  const spec = o.statSources === false ? resolved.spec : await pinSourceStats(resolved.spec);
  const plan = buildPlan(spec, stageCatalog, loaded.value.sourceMap);
  if (!plan.ok) return { ok: false, issues: plan.error };
  const big = planTooLarge(plan.value);
  if (big !== undefined) {
    const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
    const where = big.largest === undefined ? '' : `stages.${big.largest.stageId}.config`;
    const pos = loaded.value.sourceMap.locate(where, 'value');
    const message = `the plan is ${mb(big.bytes)} serialised${big.largest === undefined ? '' : ` (stage ${big.largest.stageId}'s config ${mb(big.largestBytes)})`}; it travels to Temporal as workflow input, which takes at most ${mb(MAX_PLAN_BYTES)}: put large data in a file and wire it as an input (or a stage's output), not inline in the spec`;
    return { ok: false, issues: [{ code: 'SPEC_TOO_LARGE', path: where, message, ...pos }] };
  }
  return { ok: true, loaded: loaded.value, plan: plan.value };
}

/** Prints issues (as JSON with --json) and returns the exit code for an invalid spec. */
export function reportIssues(issues: readonly SpecIssue[], json: boolean): number {
  if (json) console.log(JSON.stringify({ ok: false, issues }, null, 2));
  else console.error(formatIssues(issues));
  return 2;
}
