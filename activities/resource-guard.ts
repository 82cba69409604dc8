/**
 * The worker-side half of placement: a stage that reaches a worker offering less than it asks
 * fails its attempt at once instead of starting (and running out of memory hours later, or
 * training on the CPU). `run` checks the queue's workers before starting (cli/placement-check.ts),
 * but a worker can also take a stage the check never saw: a scheduled firing, a `resume`, a worker
 * that joined a mixed pool later. Temporal gives a task to whichever worker of the queue polls, so
 * refusing is all a worker can do: the failure is retryable when another live worker of the queue
 * could host the stage (the retry may land there), and final when none can.
 */
import { ApplicationFailure } from '@temporalio/common';
import { describeOffer, describeRequest, describeShortfalls, isEmptyRequest, shortfalls, type ResourceOffer, type ResourceRequest } from '../core/resources';
import { redact } from '../core/redact';

export interface WorkerPlacement {
  /** What this worker offers (detected, or `robustok worker --resources`). */
  readonly offer: ResourceOffer;
  /** How messages name this worker (`<pid>@<host>`). */
  readonly name: string;
  /**
   * The other live workers of `queue` that offer enough for `request` (names), or undefined when
   * that cannot be told (the server did not answer).
   */
  readonly othersAble?: (queue: string, request: ResourceRequest) => Promise<readonly string[] | undefined>;
}

/** Throws RESOURCES_UNSATISFIABLE when `placement` cannot host `request`; nothing when it can or no request was made. */
export async function guardResources(
  placement: WorkerPlacement | undefined,
  stage: { readonly id: string; readonly resources: ResourceRequest },
  queue: string,
  attempt: number,
): Promise<void> {
  if (placement === undefined || isEmptyRequest(stage.resources)) return;
  const short = shortfalls(stage.resources, placement.offer);
  if (short.length === 0) return;
  const others = await placement.othersAble?.(queue, stage.resources).catch(() => undefined);
  const head = `stage ${stage.id} asks ${describeRequest(stage.resources)}; worker ${placement.name} on queue ${queue} offers ${describeOffer(placement.offer)} (short: ${describeShortfalls(short)})`;
  const tail =
    others === undefined
      ? ': refused on this worker (could not list the queue’s other workers); a retry may reach a bigger one'
      : others.length > 0
        ? `: refused here; ${others.join(', ')} can host it and may take the retry. A queue is a pool: give such stages a queue of their own`
        : `, and no other live worker of the queue offers enough: start one with more (robustok worker --queue ${queue} on a bigger host, --resources if detection under-counts) or lower the stage's resources`;
  throw ApplicationFailure.create({
    type: 'RESOURCES_UNSATISFIABLE',
    message: redact(head + tail),
    // Final only when we know nobody else can host it; otherwise let Temporal's retry find a bigger worker.
    nonRetryable: others !== undefined && others.length === 0,
    details: [{ attempt }],
  });
}
