/**
 * `robustok report` on a real run: a 2 σ × 2 guidance sweep of command stages through the CLI
 * (real Temporal, MinIO store). `run` writes the report itself and prints its path; the pivot
 * cells and the CSV must equal the record's arm metrics; the page opens in headless Chromium with
 * the network cut, and its sample grids decode. One screenshot is kept under test-artifacts/.
 *
 *   train ──► sample(σ, guidance) ──► eval        4 arms: train once, sample and eval four times
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, cliEnv, parseJson, runCli } from '../helpers/cli';
import { dumpDom, findChromium, screenshot } from '../helpers/chromium';
import { tempDir } from '../helpers/servers';

const FIX = path.join(ROOT, 'test', 'fixtures', 'commands');
const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'report');

const spec = `apiVersion: robustok.dev/v1
name: report-test
defaults:
  queue: cpu
  retry: {maximumAttempts: 1}
stages:
  train:
    kind: command
    config:
      argv: [node, ${path.join(FIX, 'report-train.js')}, '60', '\${outputs.model}']
      outputs: {model: model.json}
  sample:
    kind: command
    inputs: {model: train.model}
    config:
      argv: [node, ${path.join(FIX, 'report-sample.js')}, '\${outputs.samples}', '\${params.sigma}', '\${params.guidance}', '6', '\${inputs.model}']
      params: {sigma: 0.5, guidance: 1}
      outputs: {samples: samples}
  eval:
    kind: command
    inputs: {samples: sample.samples}
    config:
      argv: [node, ${path.join(FIX, 'report-eval.js')}, '\${inputs.samples}', '\${outputs.scores}']
      metricsFile: m.json
      outputs: {scores: scores.json}
sweep:
  grid:
    stages.sample.config.params.sigma: [0.3, 0.7]
    stages.sample.config.params.guidance: [1.5, 3]
`;

interface RunJson {
  runId: string;
  outcome: string;
  report?: string;
  stages: { id: string; stage: string; outcome: string; arms: number[] }[];
  arms: { index: number; label: string; outcome: string; metrics: Record<string, number | string> }[];
}

/** Cells `<td … data-arm="A" data-key="K" data-value="V">` of the pivot table. */
function pivotCells(html: string): Map<string, string> {
  const cells = new Map<string, string>();
  for (const m of html.matchAll(/data-arm="(\d+)" data-key="([^"]+)" data-value="([^"]*)"/g)) cells.set(`${m[1]}|${m[2]}`, m[3] ?? '');
  return cells;
}

test('report: pivot and CSV equal the record, grids load in headless Chromium, run prints the path', async () => {
  const dir = await tempDir('report');
  const file = path.join(dir, 'report.yaml');
  await writeFile(file, spec);
  const env = await cliEnv('report');

  const run = await runCli(['run', file, '--worker', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  const record = parseJson<RunJson>(run);
  assert.equal(record.arms.length, 4);
  const count = (s: string) => record.stages.filter((r) => r.stage === s && r.outcome === 'ran').length;
  assert.deepEqual({ train: count('train'), sample: count('sample'), eval: count('eval') }, { train: 1, sample: 4, eval: 4 });
  assert.ok(record.report !== undefined, 'run --json names the report');
  assert.ok((await stat(record.report)).size > 0);

  // The explicit command, into a chosen folder, naming the run by prefix.
  const out = path.join(dir, 'out');
  const rep = await runCli(['report', record.runId.slice(0, record.runId.length - 2), '--out', out], env);
  assert.equal(rep.code, 0, rep.stderr);
  assert.match(rep.stdout, new RegExp(`report: ${path.join(out, 'report.html').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const html = await readFile(path.join(out, 'report.html'), 'utf8');

  // Pivot cells against the record: every arm × eval metric.
  const cells = pivotCells(html);
  for (const arm of record.arms) {
    for (const k of ['fid', 'sfid', 'is', 'precision', 'recall']) {
      const v = arm.metrics[`eval.${k}`];
      assert.equal(typeof v, 'number', `arm ${arm.label} has eval.${k}`);
      assert.equal(Number(cells.get(`${arm.index}|eval.${k}`)), v, `cell arm ${arm.index} eval.${k}`);
    }
  }
  // The FID grid: σ down, guidance across; the metric order puts FID first.
  assert.match(html, /eval\.fid †: sigma ↓ × guidance →/);
  assert.match(html, /id="fid-not-comparable"[^>]*>⚠ NOT COMPARABLE WITH PUBLISHED NUMBERS/);
  assert.match(html, /random-init:seed=0/);
  assert.match(html, /<div class="chart" id="sweep-plot"><svg/);
  assert.match(html, /<div class="chart" id="dag"><svg/);
  // The training curves come from the ::metrics lines (not_a_metric=abc is no number).
  assert.match(html, /data-metric="loss"><svg/);
  assert.match(html, /data-metric="lr"><svg/);
  assert.doesNotMatch(html, /data-metric="not_a_metric"/);
  assert.match(html, /60 progress reports/);
  // Every artifact with URI and digest.
  assert.match(
    html,
    /<code>train\.model<\/code><\/td><td>file \(model\.json\)<\/td><td class="n">\d+ B<\/td><td class="mono">sha256:[0-9a-f]{64}<\/td><td class="mono">s3:\/\/[^<]+\/cas\/sha256\//,
  );
  // Self-contained: nothing to fetch.
  assert.doesNotMatch(html, /<script|<link|(?:src|href)="(?:https?:)?\/\/|url\((?!#)/i);

  // The CSV: same numbers, one row per arm.
  const csv = (await readFile(path.join(out, 'metrics.csv'), 'utf8')).trim().split('\n');
  const header = csv[0]?.split(',') ?? [];
  assert.deepEqual(header.slice(0, 5), ['arm', 'label', 'outcome', 'sigma', 'guidance']);
  assert.equal(csv.length, 5);
  for (const line of csv.slice(1)) {
    const cols = line.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/);
    const arm = record.arms.find((a) => a.index === Number(cols[0]));
    assert.ok(arm);
    assert.equal(`sigma=${cols[3]},guidance=${cols[4]}`, arm.label);
    assert.equal(Number(cols[header.indexOf('eval.fid')]), arm.metrics['eval.fid']);
  }

  // A second run is all cached; the plain output ends with the report path, whose curves come from the first run.
  const again = await runCli(['run', file, '--worker'], env);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /0 ran, 9 cached/);
  const second = /^report: (.+report\.html)$/m.exec(again.stdout)?.[1];
  assert.ok(second !== undefined && second.startsWith(path.join(env.ROBUSTOK_HOME ?? '', 'reports')), again.stdout);
  const secondHtml = await readFile(second, 'utf8');
  assert.match(secondHtml, /data-metric="loss"><svg/);
  assert.match(secondHtml, /from the run that computed this cache entry/);
  assert.deepEqual(pivotCells(secondHtml), cells);

  const bin = findChromium();
  if (bin === undefined) {
    assert.ok(process.env.CI === undefined, 'CI must have chromium (.ci/run installs it)');
    console.log('# chromium not found: skipping the browser checks (apt-get install -y chromium)');
    return;
  }
  // A test-only probe beside the report (the report itself has no script).
  const probe = path.join(out, 'probe.html');
  const probeScript = `<script>addEventListener('load',()=>document.body.setAttribute('data-probe',JSON.stringify([...document.querySelectorAll('img.sample-grid')].map(i=>[i.complete,i.naturalWidth,i.naturalHeight]))))</script></body>`;
  await writeFile(probe, html.replace('</body>', probeScript));
  const dom = await dumpDom(bin, probe);
  const probed = /data-probe="([^"]*)"/.exec(dom)?.[1];
  assert.ok(probed !== undefined, 'the probe ran');
  const images = JSON.parse(probed.replaceAll('&quot;', '"')) as [boolean, number, number][];
  assert.equal(images.length, 4, 'one sample grid per arm');
  for (const [complete, w, h] of images) assert.ok(complete && w > 0 && h > 0, `grid image decoded: ${JSON.stringify([complete, w, h])}`);

  await mkdir(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, 'report.png');
  await screenshot(bin, path.join(out, 'report.html'), shot);
  assert.ok((await stat(shot)).size > 10_000);
  await copyFile(path.join(out, 'report.html'), path.join(ARTIFACTS, 'report.html'));
  console.log(`# report screenshot: ${shot}`);
});
