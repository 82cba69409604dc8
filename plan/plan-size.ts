/**
 * A plan travels to Temporal as the pipeline workflow's input, and each stage run's config again as
 * its activity's input. Temporal refuses payloads over 2 MB by default (and gRPC messages over 4 MB):
 * a spec carrying megabytes of inline data must be refused when it is validated, not when it is run.
 */
import type { Plan, StageRun } from './types';

/** Bytes of serialised plan we accept: below Temporal's default 2 MB payload limit, with room for the rest of the input. */
export const MAX_PLAN_BYTES = 1_500_000;

export interface PlanTooLarge {
  readonly bytes: number;
  /** The stage run whose config is the largest part of the plan. */
  readonly largest: StageRun | undefined;
  readonly largestBytes: number;
}

const utf8Bytes = (value: unknown): number => new TextEncoder().encode(JSON.stringify(value)).length;

export function planTooLarge(plan: Plan, limit = MAX_PLAN_BYTES): PlanTooLarge | undefined {
  const bytes = utf8Bytes(plan);
  if (bytes <= limit) return undefined;
  let largest: StageRun | undefined;
  let largestBytes = 0;
  for (const r of plan.runs) {
    const n = utf8Bytes(r.config);
    if (n > largestBytes) [largest, largestBytes] = [r, n];
  }
  return { bytes, largest, largestBytes };
}
