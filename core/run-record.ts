/** The record of one pipeline run: what every stage run did, per arm. Written to records/<runId>.json. */
import type { Json } from './canonical-json';
import type { AttemptLogRef } from './attempt-log-ref';
import type { CacheKeyMaterial } from './cache-key-material';

export type StageOutcome = 'ran' | 'cached' | 'failed' | 'skipped';

export interface StageRunRecord {
  readonly id: string;
  readonly stageId: string;
  readonly arms: readonly number[];
  readonly kind: string;
  readonly key: string | undefined;
  readonly outcome: StageOutcome;
  readonly attempts: number;
  readonly durationMs: number;
  readonly outputs: Readonly<Record<string, { digest: string; bytes: number; type: 'file' | 'dir' }>>;
  readonly metrics: Readonly<Record<string, Json>>;
  readonly material?: CacheKeyMaterial;
  readonly error?: { readonly code: string; readonly message: string };
  readonly warnings?: readonly string[];
  readonly resumedFromStep?: number;
  /** Logs of this run's attempts, stored by the workers (artifacts/attempt-logs.ts). */
  readonly logs?: readonly AttemptLogRef[];
}

export interface ArmSummary {
  readonly index: number;
  readonly label: string;
  readonly outcome: 'succeeded' | 'failed';
  /** Sweep path → this arm's value (records written since the plan is stored beside them; else read the label). */
  readonly params?: Readonly<Record<string, Json>>;
  /** Metrics of the arm's stage runs, keyed '<stageId>.<metric>'. */
  readonly metrics: Readonly<Record<string, Json>>;
}

export interface RunRecord {
  readonly schema: 'robustok.dev/run-record/v1';
  readonly runId: string;
  readonly name: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly outcome: 'succeeded' | 'failed';
  readonly stages: readonly StageRunRecord[];
  readonly arms: readonly ArmSummary[];
}
