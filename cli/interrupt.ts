/**
 * Ctrl-C while `run` (or an attached `resume`) follows a run. The first Ctrl-C detaches: it says how
 * to follow or cancel the run and leaves after a short window; a second Ctrl-C within the window
 * cancels the run instead (its stages stop at their next heartbeat); a third leaves at once.
 * Before, Ctrl-C killed the CLI silently, the run went on with no hint, and `resume` started a
 * duplicate of it.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { errorMessage } from '../core/errors';
import type { RunRecord } from '../core/run-record';
import type { pipelineWorkflow } from '../workflows/pipeline';
import { follow } from './commands/run';

export interface InteractiveFollow {
  readonly quiet: boolean;
  /** In-process workers' run() promises (a crashed one ends the wait). */
  readonly workers: Promise<void>[];
  /** Workers live in this process: the run stalls once it exits. */
  readonly inProcess: boolean;
  /** The Temporal server lives in this process too (the embedded default). */
  readonly embedded: boolean;
  readonly log: (l: string) => void;
}

/** Exit code of a detached or cancelled `run`: interrupted by the user. */
export const INTERRUPTED = 130;

function windowMs(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env.ROBUSTOK_DETACH_WINDOW_MS ?? 3000);
  return Number.isFinite(ms) && ms >= 0 ? ms : 3000;
}

function detachHint(runId: string, o: InteractiveFollow, ms: number): string {
  const head = `Ctrl-C: detaching from run ${runId} in ${Math.round(ms / 100) / 10} s (Ctrl-C again to cancel the run instead).`;
  if (o.embedded)
    return `${head} Its workers and the local Temporal server live in this process, so it pauses: 'robustok resume ${runId}' continues it where it stopped, 'robustok cancel ${runId}' drops it.`;
  if (o.inProcess)
    return `${head} It stays on the server and its stages wait for a worker ('robustok worker', or 'robustok resume ${runId}' to host them here). Follow it: 'robustok status ${runId} --watch'; cancel it: 'robustok cancel ${runId}'.`;
  return `${head} It continues on its workers. Follow it: 'robustok status ${runId} --watch'; cancel it: 'robustok cancel ${runId}'.`;
}

export function isCancelledRun(e: unknown): boolean {
  return e instanceof WorkflowFailedError && e.cause instanceof CancelledFailure;
}

/** Follows until the run ends (its record), or until the user detaches or cancels (undefined). */
export async function followInteractively(
  handle: WorkflowHandle<typeof pipelineWorkflow>,
  runId: string,
  o: InteractiveFollow,
): Promise<RunRecord | undefined> {
  const ms = windowMs();
  let interrupts = 0;
  let timer: NodeJS.Timeout | undefined;
  let stop: (how: 'detached' | 'cancelled') => void = () => undefined;
  const stopped = new Promise<'detached' | 'cancelled'>((resolve) => (stop = resolve));
  const onSigint = () => {
    interrupts += 1;
    if (interrupts === 1) {
      o.log(detachHint(runId, o, ms));
      timer = setTimeout(() => stop('detached'), ms);
    } else if (interrupts === 2) {
      clearTimeout(timer);
      o.log(`cancelling run ${runId}: running stages stop at their next heartbeat (Ctrl-C again leaves at once)`);
      handle.cancel().then(
        () => stop('cancelled'),
        (e: unknown) => {
          o.log(`could not cancel run ${runId} (${errorMessage(e)}): 'robustok cancel ${runId}' tries again`);
          stop('detached');
        },
      );
    } else process.exit(INTERRUPTED);
  };
  process.on('SIGINT', onSigint);
  const following = follow(handle, o.quiet, o.workers);
  try {
    const first = await Promise.race([following, stopped]);
    if (first === 'detached') {
      following.catch(() => undefined);
      o.log(`detached from run ${runId}`);
      return undefined;
    }
    if (first === 'cancelled') {
      // Our own workers stop the running stages: give the cancellation time to reach them.
      await Promise.race([following.catch(() => undefined), new Promise((r) => setTimeout(r, 15_000))]);
      o.log(`run ${runId}: cancelled`);
      return undefined;
    }
    return first;
  } catch (e) {
    if (!isCancelledRun(e)) throw e;
    o.log(`run ${runId}: cancelled`);
    return undefined;
  } finally {
    process.off('SIGINT', onSigint);
    clearTimeout(timer);
  }
}
