/** Maps our typed errors onto Temporal failures whose `type` is the stable error code. */
import { ApplicationFailure } from '@temporalio/common';
import { PipelineError, errorMessage } from '../core/errors';
import { redact, redactError } from '../core/redact';

/** Messages, stacks and causes are redacted: a failure is stored in Temporal's history and shown to users. */
export function toApplicationFailure(e: unknown): ApplicationFailure {
  if (e instanceof ApplicationFailure) return e;
  if (e instanceof PipelineError) {
    return ApplicationFailure.create({
      type: e.code,
      message: redact(e.message),
      nonRetryable: !e.retryable,
      details: e.details === undefined ? [] : [e.details],
      cause: e.cause instanceof Error ? redactError(e.cause) : undefined,
    });
  }
  return ApplicationFailure.create({
    type: 'INTERNAL',
    message: redact(errorMessage(e)),
    nonRetryable: false,
    cause: e instanceof Error ? redactError(e) : undefined,
  });
}
