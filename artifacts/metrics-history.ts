/**
 * Keeps the numeric metrics of a stage attempt's progress reports, bounded whatever the run length:
 * each metric is its own series (so a metric reported every 1000 steps, like a validation score,
 * keeps all its points next to a loss reported every step), and when a series reaches `maxPoints`
 * neighbouring points are averaged in pairs and later reports go into buckets twice as wide.
 * A series therefore holds between maxPoints/2 and maxPoints points that cover the whole run.
 */
import type { StageProgress } from '../stages/stage';
import { HISTORY_SCHEMA, historyCheckpointKey, writeStageHistory, type MetricSeries, type StageHistory } from './stage-history';
import type { ArtifactStore } from './store';

/** Enough for a smooth curve on a report page; the stored JSON stays a few tens of kB per metric. */
export const DEFAULT_MAX_POINTS = 500;
/** A stage that reports hundreds of distinct names is logging something else; the rest are dropped. */
const MAX_SERIES = 64;

interface SeriesState {
  readonly steps: number[];
  readonly values: number[];
  readonly width: number;
  readonly reports: number;
  readonly sum: number;
  readonly n: number;
  readonly lastStep: number;
}

/** What a checkpoint keeps of the history, so a resumed attempt's curves continue instead of restarting. */
export interface HistoryState {
  readonly step: number;
  readonly maxPoints: number;
  readonly series: Readonly<Record<string, SeriesState>>;
}

class Series {
  steps: number[] = [];
  values: number[] = [];
  /** Reports per stored point. */
  width = 1;
  reports = 0;
  private sum = 0;
  private n = 0;
  private lastStep = 0;

  constructor(private readonly maxPoints: number) {}

  add(step: number, value: number): void {
    this.reports++;
    this.sum += value;
    this.n++;
    this.lastStep = step;
    if (this.n < this.width) return;
    this.push(this.sum / this.n, this.lastStep);
    this.sum = 0;
    this.n = 0;
  }

  private push(value: number, step: number): void {
    this.values.push(value);
    this.steps.push(step);
    if (this.values.length < this.maxPoints) return;
    const steps: number[] = [];
    const values: number[] = [];
    for (let i = 0; i + 1 < this.values.length; i += 2) {
      values.push(((this.values[i] ?? 0) + (this.values[i + 1] ?? 0)) / 2);
      steps.push(this.steps[i + 1] ?? 0);
    }
    this.steps = steps;
    this.values = values;
    this.width *= 2;
  }

  state(): SeriesState {
    return { steps: [...this.steps], values: [...this.values], width: this.width, reports: this.reports, sum: this.sum, n: this.n, lastStep: this.lastStep };
  }

  /** Restores a saved state, keeping only what was reported up to `step` (a resumed attempt redoes the rest). */
  static fromState(maxPoints: number, st: SeriesState, step: number): Series {
    const s = new Series(maxPoints);
    const keep = st.steps.filter((x) => x <= step).length;
    s.steps = st.steps.slice(0, keep);
    s.values = st.values.slice(0, keep);
    s.width = st.width;
    s.reports = st.reports;
    if (st.lastStep <= step) {
      s.sum = st.sum;
      s.n = st.n;
      s.lastStep = st.lastStep;
    }
    return s;
  }

  /** The stored points plus the partly filled bucket, so the last report is always visible. */
  snapshot(): MetricSeries {
    const steps = [...this.steps];
    const values = [...this.values];
    if (this.n > 0) {
      steps.push(this.lastStep);
      values.push(this.sum / this.n);
    }
    return { steps, values, reports: this.reports };
  }
}

export class MetricsHistory {
  private readonly series = new Map<string, Series>();
  private step = 0;

  constructor(private readonly maxPoints = DEFAULT_MAX_POINTS) {
    if (!Number.isInteger(maxPoints) || maxPoints < 2 || maxPoints % 2 !== 0) throw new RangeError(`maxPoints must be an even integer ≥ 2, got ${maxPoints}`);
  }

  /** Records the report's metrics (at its step, else the last reported one) and returns the report without them. */
  take(p: StageProgress): Omit<StageProgress, 'metrics'> {
    const { metrics, ...rest } = p;
    if (rest.step !== undefined) this.step = rest.step;
    for (const [name, value] of Object.entries(metrics ?? {})) {
      // NaN/±Inf have no JSON form and no place on a plot; a NaN loss fails the stage elsewhere.
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      let s = this.series.get(name);
      if (s === undefined) {
        if (this.series.size >= MAX_SERIES) continue;
        s = new Series(this.maxPoints);
        this.series.set(name, s);
      }
      s.add(this.step, value);
    }
    return rest;
  }

  state(): HistoryState {
    return { step: this.step, maxPoints: this.maxPoints, series: Object.fromEntries([...this.series].map(([k, v]) => [k, v.state()])) };
  }

  /** Continues from a checkpoint's state: the reports up to `step` (the checkpoint's) are kept. */
  restore(st: HistoryState, step: number): void {
    if (st.maxPoints !== this.maxPoints) return;
    this.series.clear();
    for (const [name, ss] of Object.entries(st.series)) this.series.set(name, Series.fromState(this.maxPoints, ss, step));
    this.step = step;
  }

  get empty(): boolean {
    return this.series.size === 0;
  }

  toHistory(key: string, stage: { id: string; kind: string }): StageHistory {
    const series: Record<string, MetricSeries> = {};
    for (const [name, s] of [...this.series].sort(([a], [b]) => a.localeCompare(b))) series[name] = s.snapshot();
    return { schema: HISTORY_SCHEMA, key, stage, maxPoints: this.maxPoints, series };
  }
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Stores the history (when there is one) beside the entry's manifest; a failure only costs the plot. */
export async function storeMetricsHistory(
  store: ArtifactStore,
  history: MetricsHistory,
  key: string,
  stage: { id: string; kind: string },
  warn: (m: string) => void,
): Promise<void> {
  if (history.empty) return;
  try {
    await writeStageHistory(store, history.toHistory(key, stage));
    await store.delete(historyCheckpointKey(key));
  } catch (e) {
    warn(`stage ${stage.id}: could not store its metrics history: ${message(e)}`);
  }
}

/** Saves the history with a checkpoint at `step` (called once the checkpoint is stored). */
export async function saveHistoryAtCheckpoint(store: ArtifactStore, history: MetricsHistory, key: string, warn: (m: string) => void): Promise<void> {
  if (history.empty) return;
  try {
    await store.put(historyCheckpointKey(key), JSON.stringify(history.state()));
  } catch (e) {
    warn(`could not save the metrics history with the checkpoint: ${message(e)}`);
  }
}

/** A resumed attempt picks up the history saved with its checkpoint (if any) up to the checkpoint's step. */
export async function restoreHistoryAtCheckpoint(store: ArtifactStore, history: MetricsHistory, key: string, step: number): Promise<void> {
  try {
    if ((await store.stat(historyCheckpointKey(key))) === undefined) return;
    history.restore(JSON.parse((await store.getBytes(historyCheckpointKey(key))).toString('utf8')) as HistoryState, step);
  } catch {
    // Only the curves' start is lost.
  }
}
