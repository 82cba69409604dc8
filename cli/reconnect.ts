/**
 * Following a run through a Temporal outage (a server restart, a network blip): the run goes on
 * server-side, so `run` and `status --watch` wait for the server to answer again instead of
 * failing — for up to ROBUSTOK_TEMPORAL_WAIT (default 5m), saying once that they are waiting.
 */
import { ServiceError, type WorkflowHandle } from '@temporalio/client';
import { durationMs } from '../spec/duration';
import { errorMessage } from '../core/errors';
import type { RunRecord } from '../core/run-record';
import type { pipelineWorkflow } from '../workflows/pipeline';

const DEFAULT_WAIT_MS = 5 * 60_000;

export function temporalWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.ROBUSTOK_TEMPORAL_WAIT;
  if (text === undefined || text === '') return DEFAULT_WAIT_MS;
  return durationMs(text) ?? DEFAULT_WAIT_MS;
}

/** gRPC UNAVAILABLE / DEADLINE_EXCEEDED, or a channel that cannot connect: the server may come back. */
export function isTemporalOutage(e: unknown): e is ServiceError {
  if (!(e instanceof ServiceError)) return false;
  const code = (e.cause as { code?: number } | undefined)?.code;
  return code === 14 || code === 4 || /No connection established|ECONNREFUSED|ECONNRESET/.test(`${e.message} ${errorMessage(e.cause)}`);
}

export async function resultThroughOutages(
  handle: WorkflowHandle<typeof pipelineWorkflow>,
  log: (l: string) => void,
  maxMs = temporalWaitMs(),
): Promise<RunRecord> {
  let outageSince: number | undefined;
  let lastFailure = 0;
  for (;;) {
    try {
      return await handle.result();
    } catch (e) {
      if (!isTemporalOutage(e)) throw e;
      const now = Date.now();
      // A failure long after the previous one is a new outage (a long poll succeeded in between).
      if (outageSince === undefined || now - lastFailure > 60_000) {
        outageSince = now;
        log(
          `Temporal is not answering (${errorMessage(e.cause ?? e).split('\n')[0] ?? ''}): still following run ${handle.workflowId.replace(/^run-/, '')}, for up to ${Math.round(maxMs / 1000)} s (ROBUSTOK_TEMPORAL_WAIT)`,
        );
      }
      lastFailure = now;
      if (now - outageSince > maxMs) throw e;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}
