/**
 * The last line of defence of the command line: an error that reached the top becomes one readable
 * message with its code (`error [CODE]: …`), never a stack trace — unless --verbose asks for it.
 * Temporal's client errors wrap the useful part (an activity's typed failure, a gRPC status) a few
 * levels down; they are unwrapped here.
 */
import { ServiceError, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { PipelineError, errorMessage } from '../core/errors';
import { redact } from '../core/redact';

/** `code` and message of the innermost typed failure under a Temporal error. */
function innermostFailure(e: unknown): { code: string; message: string } | undefined {
  let found: { code: string; message: string } | undefined;
  for (let cur: unknown = e, depth = 0; cur instanceof Error && depth < 10; cur = cur.cause, depth++) {
    if (cur instanceof ApplicationFailure) found = { code: cur.type ?? 'INTERNAL', message: cur.message };
    else if (cur instanceof TemporalFailure && found === undefined) found = { code: cur.name, message: cur.message };
  }
  return found;
}

/** gRPC status names of the codes a user can act on. */
const GRPC: Record<number, string> = { 4: 'DEADLINE_EXCEEDED', 8: 'RESOURCE_EXHAUSTED', 14: 'UNAVAILABLE' };

export function describeError(e: unknown): { code: string; message: string } {
  if (e instanceof PipelineError) return { code: e.code, message: e.message };
  if (e instanceof WorkflowFailedError) {
    const inner = innermostFailure(e.cause);
    return { code: inner?.code ?? 'RUN_FAILED', message: `the run's workflow failed: ${inner?.message ?? errorMessage(e.cause ?? e)}` };
  }
  if (e instanceof WorkflowNotFoundError) return { code: 'INPUT_MISSING', message: `${e.message}: check the run id printed by 'robustok run'` };
  if (e instanceof ServiceError) {
    const grpc = (e.cause as { code?: number; details?: string } | undefined) ?? {};
    const status = grpc.code === undefined ? undefined : GRPC[grpc.code];
    if (status === 'RESOURCE_EXHAUSTED')
      return {
        code: 'SPEC_TOO_LARGE',
        message: `Temporal refused a message as too large (${grpc.details ?? e.message}): keep large data in files wired as inputs, not inline in the spec`,
      };
    if (status === 'UNAVAILABLE' || status === 'DEADLINE_EXCEEDED')
      return {
        code: 'TEMPORAL_UNREACHABLE',
        message: `Temporal did not answer (${grpc.details ?? e.message}): is the server running? (robustok server start, or unset TEMPORAL_ADDRESS for a local one)`,
      };
    return { code: 'TEMPORAL_ERROR', message: `${e.message}${grpc.details ? `: ${grpc.details}` : ''}` };
  }
  const inner = innermostFailure(e);
  if (inner !== undefined) return inner;
  return { code: 'INTERNAL', message: errorMessage(e) };
}

/** Prints the error for a user (stack only with --verbose) and returns the exit code. */
export function reportError(e: unknown, env: NodeJS.ProcessEnv = process.env): number {
  const { code, message } = describeError(e);
  console.error(redact(`error [${code}]: ${message}`));
  if (env.ROBUSTOK_VERBOSE === '1') console.error(redact(e instanceof Error ? (e.stack ?? e.message) : String(e)));
  else if (code === 'INTERNAL') console.error('(an unexpected error: rerun with --verbose for its stack trace and report it)');
  return 1;
}
