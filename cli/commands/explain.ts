/**
 * `robustok explain <stage> <spec>`: why a stage's cache key differs from the last run of the same
 * pipeline — which config paths, input digests, version or seed changed — or that it is a hit.
 * When the key is not known yet because an upstream stage will rerun, the upstream is explained.
 */
import { openStore } from '../../artifacts/open-store';
import { latestRunRecord } from '../../artifacts/run-records';
import { PipelineError } from '../../core/errors';
import type { RunRecord, StageRunRecord } from '../../core/run-record';
import { explainKeyChange } from '../../plan';
import type { Plan, StageRun } from '../../plan/types';
import { cacheStatus, type RunStatus } from '../cache-status';
import { loadPlan, reportIssues } from '../load-plan';
import { defaultStoreUri } from '../state-dir';

function previousOf(run: StageRun, record: RunRecord | undefined): StageRunRecord | undefined {
  const same = record?.stages.filter((s) => s.stageId === run.stageId) ?? [];
  return same.find((s) => s.id === run.id) ?? same.find((s) => s.arms.some((a) => run.arms.includes(a))) ?? (same.length === 1 ? same[0] : undefined);
}

function explainRun(
  run: StageRun,
  plan: Plan,
  status: Map<string, RunStatus>,
  record: RunRecord | undefined,
  depth: number,
  out: string[],
  seen: Set<string>,
): void {
  if (seen.has(run.id)) return;
  seen.add(run.id);
  const pad = '  '.repeat(depth);
  const s = status.get(run.id);
  const prev = previousOf(run, record);
  if (s?.state === 'cached') {
    out.push(`${pad}${run.id}: cache hit (key ${s.key.slice(0, 16)})${prev?.key === s.key ? `, same key as in run ${record?.runId}` : ''}`);
    return;
  }
  if (s?.material !== undefined) {
    if (prev?.material === undefined) {
      out.push(`${pad}${run.id}: will run — ${s.why}; no earlier run of '${plan.name}' recorded this stage to compare with`);
      return;
    }
    const lines = explainKeyChange(prev.material, s.material);
    if (lines.length === 0) out.push(`${pad}${run.id}: same key as in run ${record?.runId} (${s.key.slice(0, 16)}), but ${s.why}`);
    else
      out.push(
        `${pad}${run.id}: key changed since run ${record?.runId} (${(prev.key ?? '?').slice(0, 12)} → ${s.key.slice(0, 12)}):`,
        ...lines.map((l) => `${pad}  - ${l}`),
      );
    return;
  }
  out.push(`${pad}${run.id}: will run — its key depends on upstream outputs that will be recomputed:`);
  for (const ref of Object.values(run.inputs)) {
    const producer = plan.runs.find((r) => r.id === ref.run);
    if (producer === undefined || status.get(producer.id)?.state === 'cached') continue;
    if (seen.has(producer.id)) out.push(`${pad}  ${producer.id}: (explained above)`);
    else explainRun(producer, plan, status, record, depth + 1, out, seen);
  }
}

export async function explainCommand(stage: string, file: string, o: { set: string[]; json?: boolean; store?: string }): Promise<number> {
  const planned = await loadPlan(file, o.set);
  if (!planned.ok) return reportIssues(planned.issues, o.json === true);
  const { plan } = planned;
  const runs = plan.runs.filter((r) => r.stageId === stage || r.id === stage);
  if (runs.length === 0)
    throw new PipelineError('CONFIG_INVALID', `no stage '${stage}' in ${file}; stages: ${[...new Set(plan.runs.map((r) => r.stageId))].join(', ')}`);
  const store = openStore(o.store ?? defaultStoreUri());
  const status = await cacheStatus(plan, store);
  const record = await latestRunRecord(store, plan.name);
  const out: string[] = [];
  for (const run of runs) explainRun(run, plan, status, record, 0, out, new Set());
  if (o.json) console.log(JSON.stringify({ stage, previousRun: record?.runId ?? null, explanation: out }, null, 2));
  else console.log(out.join('\n'));
  return 0;
}
