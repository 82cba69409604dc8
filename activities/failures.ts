/** Maps our typed errors onto Temporal failures whose `type` is the stable error code. */
import { ApplicationFailure } from '@temporalio/common';
import { PipelineError, errorMessage } from '../core/errors';

export function toApplicationFailure(e: unknown): ApplicationFailure {
  if (e instanceof ApplicationFailure) return e;
  if (e instanceof PipelineError) {
    return ApplicationFailure.create({
      type: e.code,
      message: e.message,
      nonRetryable: !e.retryable,
      details: e.details === undefined ? [] : [e.details],
      cause: e.cause instanceof Error ? e.cause : undefined,
    });
  }
  return ApplicationFailure.create({ type: 'INTERNAL', message: errorMessage(e), nonRetryable: false, cause: e instanceof Error ? e : undefined });
}
