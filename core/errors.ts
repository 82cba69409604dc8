/**
 * One error type for the whole project. Every thrown error carries a stable `code`
 * (branch on it, never on the message) and a message that names the problem and the fix.
 * Activities turn these into Temporal ApplicationFailures whose `type` is the code.
 */

export const ERROR_CODES = {
  SPEC_INVALID: { retryable: false },
  YAML_SYNTAX: { retryable: false },
  CYCLE: { retryable: false },
  DANGLING_INPUT: { retryable: false },
  CONFIG_INVALID: { retryable: false },
  UNKNOWN_STAGE_KIND: { retryable: false },
  INPUT_MISSING: { retryable: false },
  ARTIFACT_MISSING: { retryable: true },
  DIGEST_MISMATCH: { retryable: true },
  /** An entry read from the store (manifest, checkpoint) is malformed or names a path outside its directory. */
  ENTRY_CORRUPT: { retryable: false },
  TENSOR_SHAPE: { retryable: false },
  NAN_LOSS: { retryable: false },
  CHECKPOINT_MISMATCH: { retryable: false },
  DATA_CORRUPT: { retryable: false },
  COMMAND_FAILED: { retryable: true },
  FENCED: { retryable: false },
  TEMPORAL_UNREACHABLE: { retryable: true },
  MINIO_UNREACHABLE: { retryable: true },
  STORE_ERROR: { retryable: true },
  /** The store refused the credentials (or their permissions): retrying cannot help, the message says what to set. */
  STORE_AUTH: { retryable: false },
  /** The work disk (or its quota) is full: the message names the path; free space and resume. */
  DISK_FULL: { retryable: false },
  PROVISION_FAILED: { retryable: false },
  SERVER_START_FAILED: { retryable: false },
  BACKEND_UNAVAILABLE: { retryable: false },
  /**
   * A stage asks more resources than the worker (or every live worker of its queue) offers. Retryable
   * here because the worker decides per failure (activities/resource-guard.ts: final when no other
   * worker could host it, retried when one could), and listing it as non-retryable would change the
   * workflow's retry policies.
   */
  RESOURCES_UNSATISFIABLE: { retryable: true },
  INTERNAL: { retryable: true },
} as const satisfies Record<string, { retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PipelineError extends Error {
  override readonly name = 'PipelineError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.details = options?.details;
  }
  readonly details: Record<string, unknown> | undefined;

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }
}

/** Codes that must fail a stage at once: retrying cannot help. Used for Temporal's nonRetryableErrorTypes. */
export const NON_RETRYABLE_CODES: readonly ErrorCode[] = (Object.keys(ERROR_CODES) as ErrorCode[]).filter((c) => !ERROR_CODES[c].retryable);

export function isPipelineError(err: unknown, code?: ErrorCode): err is PipelineError {
  return err instanceof PipelineError && (code === undefined || err.code === code);
}

/** Exhaustiveness guard for switches over unions. */
export function unreachable(x: never): never {
  throw new PipelineError('INTERNAL', `unreachable case reached: ${JSON.stringify(x)}`);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
