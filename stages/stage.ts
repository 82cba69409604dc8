/**
 * The runtime side of a stage kind: a plain async function of a context. Stages never see
 * Temporal; the activity adapter (activities/stage-activities.ts) builds the context.
 */
import type { Json } from '../core/canonical-json';
import type { StageDescriptor } from './descriptor';

export interface StageLogger {
  info(message: string): void;
  warn(message: string): void;
}

export interface StageProgress {
  /** Omitted ⇒ a keep-alive: the last reported step stands. */
  readonly step?: number;
  readonly total?: number;
  readonly message?: string;
  /**
   * Numbers worth plotting (loss, lr, …). The runner keeps a bounded history of them per stage run
   * (stored beside its manifest) for the run report's curves; they are not sent in heartbeats.
   */
  readonly metrics?: Readonly<Record<string, number>>;
}

export interface CheckpointIo {
  /** Local directory of the newest checkpoint of this run (from any earlier attempt), or undefined. */
  latest(): Promise<{ dir: string; step: number } | undefined>;
  /** Uploads the directory as the checkpoint at `step`; older checkpoints of this attempt may be pruned. */
  save(dir: string, step: number): Promise<void>;
}

export interface StageContext<C> {
  readonly config: C;
  /** input name → local path of the materialised artifact (a file or a directory). */
  readonly inputs: Readonly<Record<string, string>>;
  /** Private scratch directory of this attempt; outputs are collected from it. */
  readonly workdir: string;
  readonly seed: number;
  readonly attempt: number;
  readonly checkpointEvery: number;
  readonly log: StageLogger;
  /** Reports progress (becomes a Temporal heartbeat: also how a dead worker is detected). */
  progress(p: StageProgress): void;
  readonly checkpoints: CheckpointIo;
  /** Aborted when the run is cancelled or the attempt is fenced/timed out. */
  readonly signal: AbortSignal;
}

export interface StageResult {
  /** output name → local path (file or directory) to store. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly metrics?: Readonly<Record<string, Json>>;
}

export interface StageImpl<C> {
  readonly descriptor: StageDescriptor<C>;
  run(ctx: StageContext<C>): Promise<StageResult>;
}
