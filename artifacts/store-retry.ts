/**
 * Retries of store operations through an outage. A MinIO restart, a network blip or a paused VM
 * lasts seconds to minutes; a stage that already computed its outputs must wait it out rather than
 * fail and lose the work. Each operation retries transient failures (server unreachable, timed
 * out, 5xx) with exponential backoff and jitter — so many workers coming back do not all hit the
 * server at once — until a total budget is spent: ROBUSTOK_STORE_RETRY_MAX (a duration, default
 * 5m; `0` turns retrying off). Until the store has answered once in this process the budget is at
 * most STARTUP_BUDGET_MS, so a wrong endpoint or a server that was never started fails in seconds.
 */
import { PipelineError } from '../core/errors';
import { durationMs } from '../spec/duration';

export const DEFAULT_RETRY_MAX = '5m';
const STARTUP_BUDGET_MS = 10_000;

export interface RetryPolicy {
  /** Total time one operation may spend retrying. */
  readonly maxMs: number;
  /** First backoff; doubles per retry up to capMs. */
  readonly baseMs: number;
  readonly capMs: number;
}

export function retryPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): RetryPolicy {
  const text = env.ROBUSTOK_STORE_RETRY_MAX?.trim();
  let maxMs = durationMs(DEFAULT_RETRY_MAX) ?? 300_000;
  if (text !== undefined && text !== '') {
    const ms = text === '0' ? 0 : durationMs(text);
    if (ms === undefined)
      throw new PipelineError('CONFIG_INVALID', `ROBUSTOK_STORE_RETRY_MAX=${text} is not a duration: use e.g. 30s, 5m, 1h, or 0 to fail at once`);
    maxMs = ms;
  }
  return { maxMs, baseMs: 500, capMs: 30_000 };
}

/** Failures another try can cure: the store was unreachable or said "try later". */
export function isTransientStoreError(e: unknown): boolean {
  return e instanceof PipelineError && (e.code === 'MINIO_UNREACHABLE' || (e.code === 'STORE_ERROR' && e.details?.transient === true));
}

/** Backoff before retry n (0-based): half fixed, half random ("equal jitter"), capped. */
export function backoffMs(n: number, p: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(p.capMs, p.baseMs * 2 ** Math.min(n, 30));
  return ceiling / 2 + random() * (ceiling / 2);
}

export interface Retrier {
  run<T>(what: string, op: () => Promise<T>): Promise<T>;
}

/** One per store: remembers whether the store ever answered, for the startup budget. */
export function retrier(policy: RetryPolicy, onRetry?: (what: string, e: PipelineError, waitMs: number) => void): Retrier {
  let answered = false;
  return {
    async run<T>(what: string, op: () => Promise<T>): Promise<T> {
      const started = Date.now();
      for (let n = 0; ; n++) {
        try {
          const out = await op();
          answered = true;
          return out;
        } catch (e) {
          if (!isTransientStoreError(e)) {
            // A definite answer (e.g. "not found") means the server is up.
            if (e instanceof PipelineError && e.code === 'ARTIFACT_MISSING') answered = true;
            throw e;
          }
          const budget = answered ? policy.maxMs : Math.min(policy.maxMs, STARTUP_BUDGET_MS);
          const spent = Date.now() - started;
          const wait = backoffMs(n, policy);
          if (spent + wait > budget) {
            if (n === 0) throw e;
            const pe = e as PipelineError;
            throw new PipelineError(
              pe.code,
              `${pe.message} (still failing after ${Math.round(spent / 1000)} s of retries; ROBUSTOK_STORE_RETRY_MAX sets how long to wait out an outage)`,
              { cause: pe.cause, details: pe.details },
            );
          }
          onRetry?.(what, e as PipelineError, wait);
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    },
  };
}
