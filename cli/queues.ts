/**
 * Task-queue names. A prefix (ROBUSTOK_QUEUE_PREFIX / --queue-prefix) isolates users or test runs
 * that share one Temporal namespace: workers of one prefix never take another's work.
 */
import type { Plan } from '../plan/types';

export const CONTROL_QUEUE = 'robustok';

export function queuePrefix(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.ROBUSTOK_QUEUE_PREFIX ?? '';
}

export function withQueuePrefix(plan: Plan, prefix: string): Plan {
  if (prefix === '') return plan;
  const concurrency = Object.fromEntries(Object.entries(plan.concurrency).map(([q, n]) => [prefix + q, n]));
  return { ...plan, concurrency, runs: plan.runs.map((r) => ({ ...r, queue: prefix + r.queue })) };
}

export function planQueues(plan: Plan): string[] {
  return [...new Set(plan.runs.map((r) => r.queue))].sort();
}
