/**
 * What crosses Temporal between the pipeline workflow and the stage activities: references and
 * small JSON only (never tensors or file contents).
 */
import type { Json } from '../core/canonical-json';
import type { OutputEntry } from '../artifacts/manifest';
import type { CacheKeyMaterial, StageRun } from '../plan/types';

/**
 * A directory output whose file list stays in the producer's manifest: a dataset folder lists one
 * entry per file (~150 bytes each), and ImageNet's 1.28M would be ~150 MB in an activity result,
 * far past Temporal's 2 MB payload limit. Consumers read the list from the store
 * (artifacts/output-listing.ts) and check it against the digest.
 */
export interface DirListingRef {
  readonly type: 'dir';
  readonly digest: string;
  readonly bytes: number;
  readonly fileCount: number;
  /** The producer's cache key and output name: runs/<key>/manifest.json → outputs[output].files. */
  readonly listing: { readonly key: string; readonly output: string };
}

/** An output of a finished run, as the workflow passes it to consumers. */
export type OutputRef = OutputEntry | DirListingRef;

export interface LookupInput {
  /** The run's artifact store (s3://… or file://…); every worker opens it with its own credentials. */
  readonly storeUri: string;
  readonly run: StageRun;
  /** input name → the producer's output (digest known). */
  readonly inputs: Readonly<Record<string, OutputRef>>;
}

export type LookupResult =
  | {
      readonly hit: true;
      readonly key: string;
      readonly material: CacheKeyMaterial;
      readonly outputs: Readonly<Record<string, OutputRef>>;
      readonly metrics: Readonly<Record<string, Json>>;
    }
  | {
      readonly hit: false;
      readonly key: string;
      readonly material: CacheKeyMaterial;
      readonly reason: 'absent' | 'nondeterministic' | 'corrupt';
      readonly warning?: string;
    };

export interface RunStageInput {
  readonly storeUri: string;
  readonly run: StageRun;
  readonly key: string;
  readonly material: CacheKeyMaterial;
  readonly inputs: Readonly<Record<string, OutputRef>>;
  readonly runId: string;
}

export interface RunStageResult {
  readonly key: string;
  readonly outputs: Readonly<Record<string, OutputRef>>;
  readonly metrics: Readonly<Record<string, Json>>;
  readonly attempt: number;
  readonly durationMs: number;
  /** Step of the checkpoint this attempt resumed from, if any. */
  readonly resumedFromStep?: number;
}

export interface StageHeartbeat {
  /** StageRun.id, so `robustok run` can show progress per stage from the workflow's pending activities. */
  readonly stage: string;
  readonly step: number;
  readonly total?: number;
  readonly message?: string;
  readonly checkpointRef?: string;
}
