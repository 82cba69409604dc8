/**
 * The report page: one self-contained HTML file (styles inline, charts as inline SVG, sample grids
 * as data: PNGs, no script and no external reference), so it opens offline and can be mailed.
 */
import { blobKey } from '../artifacts/cas';
import type { FileEntry, OutputEntry } from '../artifacts/manifest';
import { curveChart, dagChart, OUTCOME_COLOUR, sweepPlot } from './charts';
import type { ReportData, StageView } from './collect';
import { formatValue, grid2d, headlineColumn, plotView } from './pivot';

export const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

const num = (v: number) => (Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(5));
const seconds = (ms: number) =>
  ms < 1000
    ? `${ms} ms`
    : ms < 120_000
      ? `${(ms / 1000).toFixed(1)} s`
      : ms < 7_200_000
        ? `${(ms / 60_000).toFixed(1)} min`
        : `${(ms / 3_600_000).toFixed(2)} h`;
const bytes = (n: number) =>
  n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} kB` : n < 1 << 30 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / (1 << 30)).toFixed(2)} GB`;
const blobUri = (storeUri: string, digest: string) => `${storeUri.replace(/\/+$/, '')}/${blobKey(digest)}`;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#222}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px} h3{font-size:15px;margin:16px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px} th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top} th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums} code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.badge{display:inline-block;border-radius:3px;padding:0 6px;color:#fff;font-size:12px}
.warn{background:#fdecea;border:2px solid #c62828;color:#8e0000;padding:10px 14px;margin:12px 0;font-weight:600}
.note{background:#fff8e1;border:1px solid #f9a825;padding:6px 10px;margin:8px 0}
.nc{color:#b71c1c} .muted{color:#777} .charts{display:flex;flex-wrap:wrap;gap:8px} .grid{display:inline-block;margin:0 16px 16px 0;vertical-align:top}
.grid img{image-rendering:pixelated;border:1px solid #ccc;display:block} svg{max-width:100%;height:auto}
`;

const badge = (outcome: string) => {
  const colour = (OUTCOME_COLOUR as Record<string, string>)[outcome] ?? (outcome === 'succeeded' ? '#2e7d32' : '#c62828');
  return `<span class="badge" style="background:${colour}">${esc(outcome)}</span>`;
};

function header(d: ReportData): string {
  const r = d.record;
  const count = (o: string) => r.stages.filter((s) => s.outcome === o).length;
  const ms = Date.parse(r.finishedAt) - Date.parse(r.startedAt);
  return `<h1>${esc(r.name)} ${badge(r.outcome)}</h1>
<div class="muted">run <code>${esc(r.runId)}</code> · started ${esc(r.startedAt)} · ${Number.isFinite(ms) ? seconds(ms) : '?'} · ${r.stages.length} stage runs (${count('ran')} ran, ${count('cached')} cached, ${count('failed')} failed, ${count('skipped')} skipped) · ${r.arms.length} arm(s) · store <code>${esc(d.storeUri)}</code></div>`;
}

function provenanceBanner(d: ReportData): string {
  const bad = d.provenance.filter((p) => !p.comparable);
  if (bad.length === 0) return '';
  const why = [...new Set(bad.map((p) => p.why))];
  return `<div class="warn" id="fid-not-comparable">⚠ NOT COMPARABLE WITH PUBLISHED NUMBERS: the FID-family metrics of ${bad.length === d.provenance.length ? 'this run' : esc(bad.map((p) => p.stageRunId).join(', '))} (marked †) — ${why.map(esc).join('; ')}.</div>`;
}

function metricsSection(d: ReportData): string {
  const p = d.pivot;
  if (p.columns.length === 0) return '<h2>Metrics</h2><p class="muted">No numeric metrics differ between arms.</p>';
  const notComparable = new Set(d.provenance.filter((x) => !x.comparable).map((x) => x.stageId));
  const mark = (stageId: string) => (notComparable.has(stageId) ? ' †' : '');
  const head = `<tr><th>arm</th>${p.axes.map((a) => `<th title="${esc(a.path)}">${esc(a.label)}</th>`).join('')}${p.columns.map((c) => `<th class="${notComparable.has(c.stageId) ? 'nc' : ''}">${esc(c.key)}${mark(c.stageId)}</th>`).join('')}<th>outcome</th></tr>`;
  const body = p.rows
    .map(
      (r) =>
        `<tr data-arm="${r.arm}"><td>${r.arm}</td>${r.axisValues.map((v, i) => `<td class="axis" data-axis="${esc(p.axes[i]?.label ?? '')}">${esc(formatValue(v))}</td>`).join('')}${r.metrics
          .map((m, i) => {
            const c = p.columns[i];
            return `<td class="n metric${c && notComparable.has(c.stageId) ? ' nc' : ''}" data-arm="${r.arm}" data-key="${esc(c?.key ?? '')}" data-value="${m === undefined ? '' : String(m)}">${m === undefined ? '—' : num(m)}</td>`;
          })
          .join('')}<td>${badge(r.outcome)}</td></tr>`,
    )
    .join('\n');
  const only = p.rows[0];
  if (p.rows.length === 1 && only !== undefined) {
    // One arm: a column per metric would run off the page; one row per metric instead.
    const lines = p.columns.map((c, i) => {
      const m = only.metrics[i];
      return `<tr><td><code>${esc(c.key)}</code>${mark(c.stageId)}</td><td class="n metric${notComparable.has(c.stageId) ? ' nc' : ''}" data-arm="${only.arm}" data-key="${esc(c.key)}" data-value="${m === undefined ? '' : String(m)}">${m === undefined ? '—' : num(m)}</td></tr>`;
    });
    return `<h2>Metrics</h2><p>Every stage run's numbers (also in <a href="metrics.csv">metrics.csv</a> beside this file).</p><table id="pivot"><tr><th>metric</th><th>value</th></tr>${lines.join('\n')}</table>`;
  }
  let out = `<h2>Metrics by arm</h2><p>One row per arm: its sweep values and the metrics of its own stage runs (also in <a href="metrics.csv">metrics.csv</a> beside this file).</p><table id="pivot">${head}\n${body}</table>`;
  const col = headlineColumn(p);
  // Grids and plots over the sweep's dimensions (axes that move together count as one).
  const pv = plotView(p);
  const [a0, a1] = pv.axes;
  if (pv.axes.length === 2 && a0 !== undefined && a1 !== undefined) {
    for (const [ci, c] of pv.columns.entries()) {
      const g = grid2d(pv, ci);
      out += `<h3>${esc(c.key)}${mark(c.stageId)}: ${esc(a0.label)} ↓ × ${esc(a1.label)} →</h3><table class="pivot2d" data-key="${esc(c.key)}"><tr><th>${esc(a0.label)} \\ ${esc(a1.label)}</th>${a1.values.map((v) => `<th>${esc(formatValue(v))}</th>`).join('')}</tr>${g
        .map(
          (row, i) =>
            `<tr><th>${esc(formatValue(a0.values[i]))}</th>${row.map((v) => `<td class="n${notComparable.has(c.stageId) ? ' nc' : ''}">${v === undefined ? '—' : num(v)}</td>`).join('')}</tr>`,
        )
        .join('')}</table>`;
    }
  }
  const c = p.columns[col];
  const plot = c === undefined ? undefined : sweepPlot(pv, col, `${c.key}${mark(c.stageId)} over ${pv.axes.map((a) => a.label).join(' × ')}`);
  if (plot !== undefined) out += `<div class="chart" id="sweep-plot">${plot}</div>`;
  return out;
}

function dagSection(d: ReportData): string {
  const nodes = d.stages.map((v) => ({
    id: v.rec.id,
    outcome: v.rec.outcome,
    text: `${v.rec.id}\n${v.rec.outcome}${v.rec.outcome === 'ran' || v.rec.outcome === 'failed' ? ` · ${seconds(v.rec.durationMs)}` : ''}`,
  }));
  const rows = d.stages
    .map((v) => {
      const s = v.rec;
      const m = v.manifest;
      // compute/backend.ts records {backend: 'tensorflow' | 'wasm' | 'cpu', …}.
      const b = m?.backend;
      const backend = b !== undefined && b !== null && typeof b === 'object' && !Array.isArray(b) && typeof b.backend === 'string' ? b.backend : '';
      const err =
        s.error !== undefined
          ? `<div class="${s.outcome === 'failed' ? 'nc' : 'muted'}">${esc(s.error.code)}: ${esc(s.error.message.slice(0, 600))}</div>`
          : '';
      return `<tr data-stage="${esc(s.id)}"><td><code>${esc(s.id)}</code>${err}</td><td>${esc(s.kind)}</td><td>${s.arms.length === d.record.arms.length && d.record.arms.length > 1 ? 'all' : esc(s.arms.join(', '))}</td><td>${badge(s.outcome)}</td><td class="n">${seconds(s.durationMs)}</td><td class="n">${s.attempts}</td><td class="mono">${esc(s.key?.slice(0, 16) ?? '')}</td><td class="muted">${m ? `${esc(seconds(m.durationMs))} on ${esc(m.host)}${backend ? ` (${esc(backend)})` : ''}` : ''}</td></tr>`;
    })
    .join('\n');
  return `<h2>Stage runs</h2><div class="chart" id="dag">${dagChart(nodes, d.edges)}</div>
<table id="stages"><tr><th>stage run</th><th>kind</th><th>arms</th><th>outcome</th><th>duration (this run)</th><th>attempts</th><th>cache key</th><th>computed by</th></tr>
${rows}</table>
<p class="muted">A cached run took its outputs from an earlier run of the same key: "computed by" is that run's own time and host.</p>`;
}

function gridsSection(d: ReportData): string {
  if (d.grids.every((g) => g.grid === undefined)) return '';
  const items = d.grids
    .map((g) =>
      g.grid === undefined
        ? `<div class="grid muted">arm ${g.arm} ${esc(g.label)}: ${esc(g.note ?? '')}</div>`
        : `<div class="grid" data-arm="${g.arm}"><div><b>arm ${g.arm}</b> ${esc(g.label)}</div><img class="sample-grid" alt="samples of arm ${g.arm}" width="${Math.max(g.grid.width, Math.min(4, Math.floor(512 / g.grid.width)) * g.grid.width)}" src="data:image/png;base64,${g.grid.png.toString('base64')}"><div class="muted">${esc(g.grid.source)}, ${g.grid.tile.width}×${g.grid.tile.height}</div></div>`,
    )
    .join('\n');
  return `<h2>Samples</h2>${items}`;
}

/** Loss-like names first, then the learning rate, then the rest. */
const curveRank = (name: string) => (/loss|^rec|vq|commit|gan|disc/i.test(name) ? 0 : /^lr$|lr$/i.test(name) ? 1 : 2);

function curvesSection(d: ReportData): string {
  const withHistory = d.stages.filter((v): v is StageView & { history: NonNullable<StageView['history']> } => v.history !== undefined);
  if (withHistory.length === 0) return '';
  // A history shared by several stage runs (the same cache entry) is drawn once.
  const seen = new Set<string>();
  const parts: string[] = [];
  for (const v of withHistory) {
    if (seen.has(v.history.key)) continue;
    seen.add(v.history.key);
    const names = Object.keys(v.history.series).sort((a, b) => curveRank(a) - curveRank(b) || a.localeCompare(b));
    const charts = names
      .map((n) => `<div class="curve" data-metric="${esc(n)}">${curveChart(n, v.history.series[n] ?? { steps: [], values: [], reports: 0 })}</div>`)
      .join('');
    const reports = Math.max(0, ...Object.values(v.history.series).map((s) => s.reports));
    parts.push(
      `<h3><code>${esc(v.rec.id)}</code> <span class="muted">(${esc(v.rec.kind)}, ${reports} progress reports, ≤ ${v.history.maxPoints} points per curve${v.rec.outcome === 'cached' ? ', from the run that computed this cache entry' : ''})</span></h3><div class="charts">${charts}</div>`,
    );
  }
  return `<h2>Training curves</h2>${parts.join('\n')}`;
}

function outputRows(d: ReportData, v: StageView): string[] {
  const outputs = (v.manifest?.outputs ?? v.rec.outputs) as Readonly<Record<string, OutputEntry>>;
  return Object.entries(outputs).map(([name, o]) => {
    if (o.type === 'file')
      return `<tr><td><code>${esc(v.rec.id)}.${esc(name)}</code></td><td>file${o.fileName ? ` (${esc(o.fileName)})` : ''}</td><td class="n">${bytes(o.bytes)}</td><td class="mono">sha256:${esc(o.digest)}</td><td class="mono">${esc(blobUri(d.storeUri, o.digest))}</td></tr>`;
    const files: readonly FileEntry[] = Array.isArray(o.files) ? o.files : [];
    const shown = files
      .slice(0, 50)
      .map((f) => `<div class="mono">${esc(f.path)} — ${bytes(f.bytes)} — ${esc(blobUri(d.storeUri, f.digest))}</div>`)
      .join('');
    const manifestUri = v.rec.key === undefined ? '' : `${d.storeUri.replace(/\/+$/, '')}/runs/${v.rec.key}/manifest.json`;
    return `<tr><td><code>${esc(v.rec.id)}.${esc(name)}</code></td><td>folder, ${files.length} files</td><td class="n">${bytes(o.bytes)}</td><td class="mono">sha256:${esc(o.digest)}</td><td class="mono">${esc(manifestUri)} (outputs.${esc(name)})${files.length > 0 ? `<details><summary>files${files.length > 50 ? ` (first 50 of ${files.length})` : ''}</summary>${shown}</details>` : ''}</td></tr>`;
  });
}

function artifactsSection(d: ReportData): string {
  const rows = d.stages.flatMap((v) => outputRows(d, v));
  return `<h2>Artifacts</h2><p class="muted">Content-addressed: the digest is the sha256 of the bytes (of the sorted file list for a folder); <code>robustok get ${esc(d.record.runId)} &lt;stage&gt;.&lt;output&gt; &lt;dest&gt;</code> exports one.</p><table id="artifacts"><tr><th>output</th><th>type</th><th>size</th><th>digest</th><th>URI</th></tr>${rows.join('\n')}</table>`;
}

function provenanceSection(d: ReportData): string {
  if (d.provenance.length === 0) return '';
  const rows = d.provenance
    .map(
      (p) =>
        `<tr class="${p.comparable ? '' : 'nc'}"><td><code>${esc(p.stageRunId)}</code></td><td>${esc(p.network ?? '?')}</td><td class="mono">${esc(p.weightsDigest ?? 'unknown')}</td><td>${esc(p.referenceKind ?? '?')}</td><td>${p.comparable ? 'yes, with the caveat' : '<b>NOT comparable</b>'}: ${esc(p.why)}</td></tr>`,
    )
    .join('\n');
  return `<h2>FID feature network</h2><table id="provenance"><tr><th>stage run</th><th>network</th><th>weights</th><th>reference</th><th>comparable with published numbers?</th></tr>${rows}</table>`;
}

export function renderReport(d: ReportData, generatedAt: string): string {
  const warnings = d.warnings.length > 0 ? `<div class="note">${d.warnings.map(esc).join('<br>')}</div>` : '';
  const paramsNote =
    d.plan === undefined && d.record.arms.length > 1
      ? '<div class="note">This run has no stored plan: sweep values were read from the arm labels and the graph from input digests.</div>'
      : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(d.record.name)} — ${esc(d.record.runId)}</title><style>${CSS}</style></head>
<body>
${header(d)}
${provenanceBanner(d)}${warnings}${paramsNote}
${metricsSection(d)}
${dagSection(d)}
${gridsSection(d)}
${curvesSection(d)}
${provenanceSection(d)}
${artifactsSection(d)}
<p class="muted">Generated ${esc(generatedAt)} by <code>robustok report</code> from the run record in the store.</p>
</body></html>
`;
}
