/**
 * The validated pipeline spec: what a user's YAML means once zod has accepted it.
 * Positions are kept apart (SourceMap) so error messages can point to file:line:column.
 */
import type { Json } from '../core/canonical-json';
import type { ResourceRequest } from '../core/resources';

export const API_VERSION = 'robustok.dev/v1';

export interface RetrySpec {
  /** Total attempts including the first (1 = no retry). */
  readonly maximumAttempts: number;
  readonly initialInterval: string;
  readonly backoffCoefficient: number;
  readonly maximumInterval: string;
}

export interface TimeoutSpec {
  /** Wall-clock limit of one attempt, e.g. '2h'. */
  readonly startToClose: string;
  /** An attempt that does not heartbeat within this is presumed dead and retried elsewhere. */
  readonly heartbeat: string;
}

export interface StageSpec {
  readonly id: string;
  readonly kind: string;
  /** Validated by the stage kind's own schema; sweeps substitute into it. */
  readonly config: Json;
  /** input name → reference '<stageId>.<outputName>' */
  readonly inputs: Readonly<Record<string, string>>;
  readonly queue: string;
  /** What the worker must offer (gpus, memory, cpus); checked at submission and by the worker, never part of the cache key. */
  readonly resources: ResourceRequest;
  readonly retry: RetrySpec;
  readonly timeouts: TimeoutSpec;
  /** Steps between checkpoints for stages that checkpoint (0 = stage default). */
  readonly checkpointEvery: number;
  /** false ⇒ never served from cache (the stage is rerun every time). */
  readonly deterministic: boolean;
  readonly seed: number;
}

export type SweepAxis =
  | { readonly path: string; readonly values: readonly Json[] }
  | { readonly path: string; readonly range: { readonly start: number; readonly stop: number; readonly step: number } };

export interface SweepSpec {
  /** grid: cartesian product of axes; zip: i-th value of every axis together (equal lengths). */
  readonly mode: 'grid' | 'zip';
  readonly axes: readonly SweepAxis[];
}

export type FailurePolicy = 'failFast' | 'continue';

export interface Spec {
  readonly apiVersion: typeof API_VERSION;
  readonly name: string;
  readonly stages: readonly StageSpec[];
  readonly sweep: SweepSpec | undefined;
  readonly failurePolicy: FailurePolicy;
  /** queue name → maximum stage runs in flight on it. */
  readonly concurrency: Readonly<Record<string, number>>;
}

/** Where something is in the spec's source: `file` is the spec file, or '<--set>' for an override. */
export interface SourcePosition {
  readonly file: string;
  /** 1-based; for '<--set>' the 1-based index of the override argument. 0 = unknown. */
  readonly line: number;
  /** 1-based; for '<--set>' the column inside that argument. 0 = unknown. */
  readonly column: number;
}

/**
 * Maps a spec path (spec/path.ts syntax, e.g. 'stages.train.inputs.data') to its source position.
 * Stages are addressed by id whatever the YAML form (map or list); paths that do not exist resolve
 * to their nearest existing ancestor. part 'key' points at the mapping key instead of the value.
 */
export interface SourceMap {
  locate(path: string, part?: 'key' | 'value'): SourcePosition;
}

/** A validated spec plus where each part of it came from (for issues found by the planner). */
export interface LoadedSpec {
  readonly spec: Spec;
  readonly sourceMap: SourceMap;
}

/** One problem with a spec, as data. `path` is the spec path ('stages.train.config.lr'). */
export interface SpecIssue {
  readonly code: string;
  readonly path: string;
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}
