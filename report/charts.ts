/**
 * The report's charts, drawn by Apache ECharts with its server-side SVG renderer (no DOM, no
 * browser): each function returns a static <svg> string for inlining, so the page needs neither
 * scripts nor network to show them.
 */
import * as echarts from 'echarts';
import type { MetricSeries } from '../artifacts/stage-history';
import type { StageOutcome } from '../core/run-record';
import { formatValue, grid2d, type Pivot } from './pivot';

type Option = Parameters<echarts.ECharts['setOption']>[0];

export const OUTCOME_COLOUR: Record<StageOutcome, string> = { ran: '#2e7d32', cached: '#1565c0', failed: '#c62828', skipped: '#9e9e9e' };

export function renderSvg(option: Option, width: number, height: number): string {
  const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
  try {
    chart.setOption({ animation: false, ...option });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(4)).toString());

/**
 * Metric `col` over the sweep: a line over the values of a single axis, a heat map over two
 * (first axis down, second across), and for more axes lines over the first, one per combination
 * of the others. Undefined without an axis or a value to show.
 */
export function sweepPlot(p: Pivot, col: number, title: string): string | undefined {
  const column = p.columns[col];
  if (column === undefined || p.axes.length === 0 || p.rows.every((r) => r.metrics[col] === undefined)) return undefined;
  const [a0, a1] = p.axes;
  if (a0 === undefined) return undefined;
  if (p.axes.length === 2 && a1 !== undefined) {
    const grid = grid2d(p, col);
    const data: [number, number, number][] = [];
    grid.forEach((row, i) => row.forEach((v, j) => v !== undefined && data.push([j, i, v])));
    const values = data.map((d) => d[2]);
    const height = Math.max(260, 80 + 44 * a0.values.length);
    return renderSvg(
      {
        title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
        grid: { left: 90, right: 110, top: 40, bottom: 50 },
        xAxis: { type: 'category', data: a1.values.map((v) => formatValue(v)), name: a1.label, nameLocation: 'middle', nameGap: 30 },
        yAxis: { type: 'category', inverse: true, data: a0.values.map((v) => formatValue(v)), name: a0.label, nameLocation: 'middle', nameGap: 60 },
        visualMap: {
          min: Math.min(...values),
          max: Math.max(...values),
          calculable: false,
          orient: 'vertical',
          right: 10,
          top: 'middle',
          inRange: { color: ['#fff5eb', '#fd8d3c', '#7f2704'] },
          text: ['high', 'low'],
        },
        series: [{ type: 'heatmap', data, label: { show: true, formatter: (q: { value: unknown }) => fmt((q.value as number[])[2] ?? 0) } }],
      },
      Math.max(420, 160 + 90 * a1.values.length),
      height,
    );
  }
  const numeric = a0.values.every((v) => typeof v === 'number');
  // One series per combination of the other axes' values.
  const groups = new Map<string, { x: unknown; y: number }[]>();
  for (const r of p.rows) {
    const y = r.metrics[col];
    if (y === undefined) continue;
    const name =
      p.axes
        .slice(1)
        .map((ax, k) => `${ax.label}=${formatValue(r.axisValues[k + 1] ?? null)}`)
        .join(', ') || column.key;
    const x = numeric ? r.axisValues[0] : formatValue(r.axisValues[0] ?? null);
    groups.set(name, [...(groups.get(name) ?? []), { x, y }]);
  }
  return renderSvg(
    {
      title: { text: title, left: 'center', textStyle: { fontSize: 14 } },
      grid: { left: 70, right: 30, top: 40, bottom: groups.size > 1 ? 80 : 50 },
      legend: groups.size > 1 ? { bottom: 0 } : undefined,
      xAxis: numeric
        ? { type: 'value', name: a0.label, nameLocation: 'middle', nameGap: 28, scale: true }
        : { type: 'category', data: a0.values.map((v) => formatValue(v)), name: a0.label, nameLocation: 'middle', nameGap: 28 },
      yAxis: { type: 'value', name: column.metric, scale: true },
      series: [...groups].map(([name, pts]) => ({
        type: 'line',
        name,
        symbolSize: 8,
        label: { show: true, formatter: (q: { value: unknown }) => fmt(Array.isArray(q.value) ? (q.value[1] as number) : (q.value as number)) },
        data: pts.map((pt) => [pt.x, pt.y]),
      })),
    },
    560,
    320,
  );
}

/** One metric of a stage run's history over its steps. */
export function curveChart(name: string, s: MetricSeries): string {
  return renderSvg(
    {
      title: { text: name, left: 'center', textStyle: { fontSize: 12 } },
      grid: { left: 60, right: 16, top: 30, bottom: 30 },
      xAxis: { type: 'value', scale: true, name: 'step', nameGap: 4, axisLabel: { fontSize: 10 } },
      yAxis: { type: 'value', scale: true, axisLabel: { fontSize: 10, formatter: (v: number) => fmt(v) } },
      series: [
        { type: 'line', showSymbol: s.values.length < 40, symbolSize: 4, lineStyle: { width: 1.5 }, data: s.steps.map((st, i) => [st, s.values[i] ?? null]) },
      ],
    },
    340,
    200,
  );
}

export interface DagNode {
  readonly id: string;
  readonly outcome: StageOutcome;
  readonly text: string;
}

/** The stage runs as a layered graph (producers left of consumers), coloured by outcome. */
export function dagChart(nodes: readonly DagNode[], edges: readonly { from: string; to: string }[]): string {
  const depth = new Map<string, number>();
  const producers = (id: string) => edges.filter((e) => e.to === id).map((e) => e.from);
  const depthOf = (id: string, seen: Set<string> = new Set()): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0;
    seen.add(id);
    const d = Math.max(-1, ...producers(id).map((p) => depthOf(p, seen))) + 1;
    depth.set(id, d);
    return d;
  };
  const layers = new Map<number, string[]>();
  for (const n of nodes) layers.set(depthOf(n.id), [...(layers.get(depthOf(n.id)) ?? []), n.id]);
  const colW = 190;
  const rowH = 64;
  const tallest = Math.max(1, ...[...layers.values()].map((l) => l.length));
  const width = Math.max(400, layers.size * colW + 40);
  const height = Math.max(120, tallest * rowH + 40);
  const data = nodes.map((n) => {
    const d = depth.get(n.id) ?? 0;
    const layer = layers.get(d) ?? [];
    const i = layer.indexOf(n.id);
    return {
      name: n.id,
      x: 20 + d * colW + 85,
      y: 20 + (tallest - layer.length) * (rowH / 2) + i * rowH + rowH / 2,
      symbol: 'roundRect',
      symbolSize: [170, 44],
      itemStyle: { color: OUTCOME_COLOUR[n.outcome] },
      label: { show: true, color: '#fff', fontSize: 11, lineHeight: 14, formatter: n.text },
    };
  });
  return renderSvg(
    {
      series: [
        {
          type: 'graph',
          layout: 'none',
          // Node positions are fitted into this box; the margins leave room for the node boxes.
          left: 95,
          top: 30,
          right: 95,
          bottom: 30,
          roam: false,
          data,
          links: edges.map((e) => ({ source: e.from, target: e.to })),
          edgeSymbol: ['none', 'arrow'],
          edgeSymbolSize: 8,
          lineStyle: { color: '#555', width: 1.2, opacity: 0.8 },
        },
      ],
    },
    width,
    height,
  );
}
