/**
 * The run's metrics as a table on the sweep axes: one row per arm (its value on every axis, then
 * its metrics), and for a two-axis sweep one grid per metric (first axis down, second across).
 * Pure: built from the run record and, when stored, the plan's arm values.
 */
import type { Json } from '../core/canonical-json';
import type { RunRecord, StageRunRecord } from '../core/run-record';
import type { Plan } from '../plan/types';

export interface Axis {
  /** Sweep path, e.g. stages.sample.config.guidanceScale ('' when only the label named it). */
  readonly path: string;
  /** Short name, as in arm labels ('guidanceScale'). */
  readonly label: string;
  /** Distinct values in arm order. */
  readonly values: readonly Json[];
}

export interface MetricColumn {
  /** Key in ArmSummary.metrics: '<stageId>.<metric>'. */
  readonly key: string;
  readonly stageId: string;
  readonly metric: string;
}

export interface PivotRow {
  readonly arm: number;
  readonly label: string;
  readonly outcome: string;
  /** Value on each axis, by axis index. */
  readonly axisValues: readonly Json[];
  /** Value of each metric column, by column index (undefined: the arm has none). */
  readonly metrics: readonly (number | undefined)[];
}

export interface Pivot {
  readonly axes: readonly Axis[];
  readonly columns: readonly MetricColumn[];
  readonly rows: readonly PivotRow[];
}

/** eval.fid reports these (in this order); its counts and digest are not table material. */
const EVAL_METRICS = ['fid', 'sfid', 'is', 'precision', 'recall'];

const shortLabel = (path: string) => path.split('.').at(-1) ?? path;

/** 'sigma=0.7,guidanceScale=6' → [['sigma', 0.7], ['guidanceScale', 6]] (a value may hold commas). */
export function parseArmLabel(label: string): [string, Json][] {
  if (label === '') return [];
  const parts: [string, string][] = [];
  for (const piece of label.split(',')) {
    const m = /^([^=,]+)=(.*)$/.exec(piece);
    const last = parts.at(-1);
    if (m?.[1] !== undefined && m[2] !== undefined) parts.push([m[1], m[2]]);
    else if (last !== undefined) last[1] += `,${piece}`;
  }
  return parts.map(([k, v]) => {
    try {
      return [k, JSON.parse(v) as Json];
    } catch {
      return [k, v];
    }
  });
}

const same = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** The sweep axes with each arm's value: from the record or the stored plan, else from the arm labels. */
export function sweepAxes(record: RunRecord, plan: Plan | undefined): { axes: Axis[]; valuesOf: (arm: number) => Json[] } {
  const planned = (index: number) =>
    plan !== undefined && plan.arms.length === record.arms.length ? plan.arms.find((p) => p.index === index)?.params : undefined;
  const known = record.arms.map((a) => a.params ?? planned(a.index));
  const fromPlan = known.every((k) => k !== undefined);
  const paramsOf = new Map<number, [string, Json][]>(record.arms.map((a, i) => [a.index, fromPlan ? Object.entries(known[i] ?? {}) : parseArmLabel(a.label)]));
  const names: string[] = [];
  for (const ps of paramsOf.values()) for (const [k] of ps) if (!names.includes(k)) names.push(k);
  // Short labels unless two axes would share one (then the whole path), as the arm labels do.
  const shorts = names.map(shortLabel);
  const axes: Axis[] = names.map((name, i) => {
    const values: Json[] = [];
    for (const ps of paramsOf.values()) {
      const v = ps.find(([k]) => k === name)?.[1];
      if (v !== undefined && !values.some((x) => same(x, v))) values.push(v);
    }
    const short = shorts[i] ?? name;
    return { path: fromPlan ? name : '', label: fromPlan && shorts.filter((s) => s === short).length === 1 ? short : name, values };
  });
  return { axes, valuesOf: (arm) => names.map((n) => paramsOf.get(arm)?.find(([k]) => k === n)?.[1] ?? null) };
}

/**
 * Metric columns: numbers of the stage runs that differ between arms (a stage shared by every arm
 * has one value for all of them: it is in the stage table, not the pivot). With one arm, all of them.
 */
export function metricColumns(record: RunRecord): MetricColumn[] {
  const shared = (s: StageRunRecord) => record.arms.length > 1 && s.arms.length === record.arms.length;
  const cols = new Map<string, MetricColumn>();
  for (const s of record.stages) {
    if (shared(s)) continue;
    for (const [metric, v] of Object.entries(s.metrics)) {
      if (typeof v !== 'number') continue;
      if (s.kind === 'eval.fid' && !EVAL_METRICS.includes(metric)) continue;
      const key = `${s.stageId}.${metric}`;
      if (!cols.has(key)) cols.set(key, { key, stageId: s.stageId, metric });
    }
  }
  const rank = (c: MetricColumn) => {
    const i = EVAL_METRICS.indexOf(c.metric.toLowerCase());
    return i < 0 ? EVAL_METRICS.length : i;
  };
  return [...cols.values()].sort((a, b) => rank(a) - rank(b) || a.key.localeCompare(b.key));
}

export function buildPivot(record: RunRecord, plan: Plan | undefined): Pivot {
  const { axes, valuesOf } = sweepAxes(record, plan);
  const columns = metricColumns(record);
  const rows = record.arms.map((a) => ({
    arm: a.index,
    label: a.label,
    outcome: a.outcome,
    axisValues: valuesOf(a.index),
    metrics: columns.map((c) => {
      const v = a.metrics[c.key];
      return typeof v === 'number' ? v : undefined;
    }),
  }));
  return { axes, columns, rows };
}

/** The column plotted and headlined: FID when the run has one, else the first metric. */
export function headlineColumn(p: Pivot): number {
  const fid = p.columns.findIndex((c) => c.metric.toLowerCase() === 'fid');
  return fid >= 0 ? fid : p.columns.length > 0 ? 0 : -1;
}

/** Metric `col` as a grid over two axes: grid[i][j] at axes[a].values[i], axes[b].values[j]. */
export function grid2d(p: Pivot, col: number, a = 0, b = 1): (number | undefined)[][] {
  const ax = p.axes[a];
  const bx = p.axes[b];
  if (ax === undefined || bx === undefined) return [];
  return ax.values.map((va) =>
    bx.values.map((vb) => {
      const row = p.rows.find((r) => same(r.axisValues[a] ?? null, va) && same(r.axisValues[b] ?? null, vb));
      return row?.metrics[col];
    }),
  );
}

export const formatValue = (v: Json | undefined): string => (v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v));

/** RFC 4180 CSV of the long table: arm, label, outcome, one column per axis, one per metric. */
export function pivotCsv(p: Pivot): string {
  const cell = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
  const header = ['arm', 'label', 'outcome', ...p.axes.map((a) => a.label), ...p.columns.map((c) => c.key)];
  const lines = [header.map(cell).join(',')];
  for (const r of p.rows) {
    lines.push(
      [String(r.arm), r.label, r.outcome, ...r.axisValues.map((v) => formatValue(v)), ...r.metrics.map((m) => (m === undefined ? '' : String(m)))]
        .map(cell)
        .join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The pivot with axes that move together merged into one (e.g. a zip of guidanceScale,
 * guidanceScalePow and randomizeTemperature, listed against σ: two dimensions, not four), so
 * grids and plots show the sweep's real shape. Axes are tied when each value of one goes with
 * exactly one value of the other over the arms.
 */
export function plotView(p: Pivot): Pivot {
  const col = (i: number) => p.rows.map((r) => JSON.stringify(r.axisValues[i] ?? null));
  const tied = (i: number, j: number) => {
    const a = col(i);
    const b = col(j);
    return a.every((x, r) => a.every((y, s) => (x === y) === (b[r] === b[s])));
  };
  const groups: number[][] = [];
  p.axes.forEach((_, i) => {
    const g = groups.find((members) => tied(members[0] ?? 0, i));
    if (g !== undefined) g.push(i);
    else groups.push([i]);
  });
  if (groups.every((g) => g.length === 1)) return p;
  const valueOf = (r: PivotRow, g: number[]): Json =>
    g.length === 1 ? (r.axisValues[g[0] ?? 0] ?? null) : g.map((i) => formatValue(r.axisValues[i] ?? null)).join(' / ');
  const axes: Axis[] = groups.map((g) => {
    const values: Json[] = [];
    for (const r of p.rows) {
      const v = valueOf(r, g);
      if (!values.some((x) => same(x, v))) values.push(v);
    }
    return { path: g.map((i) => p.axes[i]?.path ?? '').join(' + '), label: g.map((i) => p.axes[i]?.label ?? '').join(' / '), values };
  });
  return { ...p, axes, rows: p.rows.map((r) => ({ ...r, axisValues: groups.map((g) => valueOf(r, g)) })) };
}
