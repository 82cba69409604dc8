/**
 * Keeps the numeric metrics of a stage attempt's progress reports, bounded whatever the run length:
 * each metric is its own series (so a metric reported every 1000 steps, like a validation score,
 * keeps all its points next to a loss reported every step), and when a series reaches `maxPoints`
 * neighbouring points are averaged in pairs and later reports go into buckets twice as wide.
 * A series therefore holds between maxPoints/2 and maxPoints points that cover the whole run.
 */
import type { StageProgress } from '../stages/stage';
import { HISTORY_SCHEMA, writeStageHistory, type MetricSeries, type StageHistory } from '../artifacts/stage-history';
import type { ArtifactStore } from '../artifacts/store';

/** Enough for a smooth curve on a report page; the stored JSON stays a few tens of kB per metric. */
export const DEFAULT_MAX_POINTS = 500;
/** A stage that reports hundreds of distinct names is logging something else; the rest are dropped. */
const MAX_SERIES = 64;

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

  get empty(): boolean {
    return this.series.size === 0;
  }

  toHistory(key: string, stage: { id: string; kind: string }): StageHistory {
    const series: Record<string, MetricSeries> = {};
    for (const [name, s] of [...this.series].sort(([a], [b]) => a.localeCompare(b))) series[name] = s.snapshot();
    return { schema: HISTORY_SCHEMA, key, stage, maxPoints: this.maxPoints, series };
  }
}

/** Stores the history (when there is one) beside the entry's manifest; a failure only costs the plot. */
export async function storeMetricsHistory(store: ArtifactStore, history: MetricsHistory, key: string, stage: { id: string; kind: string }, warn: (m: string) => void): Promise<void> {
  if (history.empty) return;
  try {
    await writeStageHistory(store, history.toHistory(key, stage));
  } catch (e) {
    warn(`stage ${stage.id}: could not store its metrics history: ${e instanceof Error ? e.message : String(e)}`);
  }
}
