/**
 * The plan a run was started with, beside its record: `plans/<runId>.json`. The record says what
 * each stage run did; the plan adds what the record leaves out — each arm's sweep values (path →
 * value) and which stage run feeds which — so the report can pivot on the sweep axes and draw the
 * DAG. Written by the CLI before it starts the workflow; runs started otherwise have none, and
 * readers fall back to the arm labels and input digests.
 */
import type { RunRecord } from '../core/run-record';
import type { Plan } from '../plan/types';
import type { ArtifactStore } from './store';

export const planKey = (runId: string) => `plans/${runId}.json`;

export async function writeRunPlan(store: ArtifactStore, runId: string, plan: Plan): Promise<void> {
  await store.put(planKey(runId), `${JSON.stringify({ runId, plan })}\n`);
}

export async function readRunPlan(store: ArtifactStore, runId: string): Promise<Plan | undefined> {
  if ((await store.stat(planKey(runId))) === undefined) return undefined;
  try {
    const { plan } = JSON.parse((await store.getBytes(planKey(runId))).toString('utf8')) as { plan?: Plan };
    return plan !== undefined && Array.isArray(plan.arms) && Array.isArray(plan.runs) ? plan : undefined;
  } catch {
    return undefined;
  }
}

/** The record with each arm's sweep values (path → value) from the stored plan; unchanged without one. */
export async function attachArmParams(store: ArtifactStore, record: RunRecord): Promise<RunRecord> {
  const plan = await readRunPlan(store, record.runId).catch(() => undefined);
  if (plan === undefined) return record;
  return { ...record, arms: record.arms.map((a) => ({ ...a, params: plan.arms.find((p) => p.index === a.index && p.label === a.label)?.params ?? a.params })) };
}
