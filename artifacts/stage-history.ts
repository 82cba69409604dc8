/**
 * The metrics history of one stage run: the numbers its progress reports carried (loss, lr, …),
 * downsampled to a bounded number of points per metric, stored beside the run's manifest:
 *
 *   runs/<cacheKey>/history.json
 *   runs/<cacheKey>/history-checkpoint.json   (while unfinished: the history as of the newest checkpoint)
 *
 * Written before the manifest by the attempt that commits the entry, so a cached run's report shows
 * the curves of the run that computed it. Absent for stages that report no metrics.
 */
import type { ArtifactStore } from './store';

export const HISTORY_SCHEMA = 'robustok.dev/stage-history/v1';

export interface MetricSeries {
  /** Step of each point: the last step of the reports averaged into it. */
  readonly steps: readonly number[];
  readonly values: readonly number[];
  /** How many reports the points summarise (each point averages `reports / points` of them, roughly). */
  readonly reports: number;
}

export interface StageHistory {
  readonly schema: typeof HISTORY_SCHEMA;
  readonly key: string;
  readonly stage: { readonly id: string; readonly kind: string };
  readonly maxPoints: number;
  readonly series: Readonly<Record<string, MetricSeries>>;
}

export const historyKey = (key: string) => `runs/${key}/history.json`;
/** The history as of the newest checkpoint of an unfinished run (removed when the entry commits). */
export const historyCheckpointKey = (key: string) => `runs/${key}/history-checkpoint.json`;

export async function writeStageHistory(store: ArtifactStore, history: StageHistory): Promise<void> {
  await store.put(historyKey(history.key), `${JSON.stringify(history)}\n`);
}

/** The history of a cache entry, or undefined when there is none (or it is unreadable: it is only for plots). */
export async function readStageHistory(store: ArtifactStore, key: string): Promise<StageHistory | undefined> {
  if ((await store.stat(historyKey(key))) === undefined) return undefined;
  try {
    const h = JSON.parse((await store.getBytes(historyKey(key))).toString('utf8')) as StageHistory;
    return h.schema === HISTORY_SCHEMA && typeof h.series === 'object' && h.series !== null ? h : undefined;
  } catch {
    return undefined;
  }
}
