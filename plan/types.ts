/**
 * A Plan: the spec expanded into concrete stage runs (sweep arms applied, identical runs merged),
 * topologically ordered. Pure data: it crosses into the Temporal workflow as its input.
 */
import type { Json } from '../core/canonical-json';
import type { FailurePolicy, StageSpec } from '../spec/types';

export interface PlanArm {
  readonly index: number;
  /** e.g. 'sigma=0.1,guidance=4' ('' when there is no sweep). */
  readonly label: string;
  /** sweep path → value for this arm. */
  readonly params: Readonly<Record<string, Json>>;
}

export interface PlannedInput {
  /** StageRun.id of the producer. */
  readonly run: string;
  readonly output: string;
}

/** How a run executes, exactly as its stage spec resolved it (queue, retry, timeouts, …). */
export type StageExecution = Pick<StageSpec, 'queue' | 'resources' | 'retry' | 'timeouts' | 'checkpointEvery' | 'deterministic' | 'seed'>;

export interface StageRun extends StageExecution {
  /** Unique within the plan: the stage id, suffixed '#<8 hex>' when arms split it into several runs. */
  readonly id: string;
  readonly stageId: string;
  readonly kind: string;
  readonly version: string;
  readonly config: Json;
  readonly inputs: Readonly<Record<string, PlannedInput>>;
  /** Output names this run will produce. */
  readonly outputs: readonly string[];
  /** Arms (PlanArm.index) that use this run; > 1 element ⇒ merged across arms. */
  readonly arms: readonly number[];
  /**
   * Structural key: sha256 of {kind, version, config, seed, inputs: {name: producer structuralKey + output}}.
   * Equal structural keys ⇒ one run. The cache key proper (ARCHITECTURE §4) replaces producers by
   * the content digests of their outputs and is computed when those are known (cacheKey()).
   */
  readonly structuralKey: string;
}

export interface Plan {
  readonly name: string;
  readonly arms: readonly PlanArm[];
  /** Topological order: every run comes after the producers of its inputs. */
  readonly runs: readonly StageRun[];
  readonly failurePolicy: FailurePolicy;
  readonly concurrency: Readonly<Record<string, number>>;
}

export type { CacheKeyMaterial } from '../core/cache-key-material';
