/**
 * "Used by" marks: a cache hit notes the run that took it, runs/<key>/used/<runId>.json, so
 * `robustok gc` can tell an entry an unfinished run still relies on (its consumers may not have
 * started yet) from one only old, collectable runs used. Leases mark the entries a run computes.
 */
import type { ArtifactStore } from './store';

export interface UsedMark {
  readonly runId: string;
  readonly at: string;
}

export const usedPrefix = (key: string) => `runs/${key}/used/`;

/** The run id of a pipeline workflow id (`run-<runId>`), or undefined for anything else. */
export function runIdOfWorkflow(workflowId: string | undefined): string | undefined {
  return workflowId?.startsWith('run-') ? workflowId.slice(4) : undefined;
}

/** Best effort: a mark that cannot be written must not fail the lookup (gc then relies on leases and age). */
export async function markUsed(store: ArtifactStore, key: string, runId: string | undefined): Promise<void> {
  if (runId === undefined || !/^[A-Za-z0-9._@-]+$/.test(runId)) return;
  await store.put(`${usedPrefix(key)}${runId}.json`, JSON.stringify({ runId, at: new Date().toISOString() } satisfies UsedMark)).catch(() => undefined);
}
