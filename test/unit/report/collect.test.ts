/**
 * The report from a store alone, without servers: a hand-made record of the real stage kinds
 * (generator.sample's .npz, eval.fid's metrics report) with a failed and a skipped run and no
 * stored plan — sweep values from the labels, graph edges from input digests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { putBlob } from '../../../artifacts/cas';
import { LocalDirStore } from '../../../artifacts/local-store';
import { MANIFEST_SCHEMA, writeManifest, type OutputEntry } from '../../../artifacts/manifest';
import { attachArmParams, writeRunPlan } from '../../../artifacts/run-plans';
import { HISTORY_SCHEMA, writeStageHistory } from '../../../artifacts/stage-history';
import type { Json } from '../../../core/canonical-json';
import type { RunRecord, StageRunRecord } from '../../../core/run-record';
import { encodeNpz } from '../../../data/npz';
import type { Plan } from '../../../plan/types';
import { writeReport } from '../../../report/write';

const key = (c: string) => c.repeat(64);

async function entry(store: LocalDirStore, k: string, kind: string, outputs: Record<string, OutputEntry>, metrics: Record<string, Json> = {}): Promise<void> {
  await writeManifest(store, {
    schema: MANIFEST_SCHEMA,
    key: k,
    stage: { id: kind, kind, version: '1' },
    material: { kind, version: '1', config: {}, inputDigests: {}, seed: 0 },
    outputs,
    metrics,
    attempt: 1,
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:05Z',
    durationMs: 5000,
    codeVersion: 'test',
    host: 'h',
    backend: { backend: 'cpu' },
  });
}

const run = (id: string, kind: string, arms: number[], o: Partial<StageRunRecord>): StageRunRecord => ({
  id,
  stageId: id.split('#')[0] ?? id,
  arms,
  kind,
  key: undefined,
  outcome: 'ran',
  attempts: 1,
  durationMs: 1000,
  outputs: {},
  metrics: {},
  ...o,
});

test('report from the store: npz grid, provenance from the eval report, failed/skipped runs, label and digest fallbacks', async () => {
  const store = new LocalDirStore(await mkdtemp(path.join(os.tmpdir(), 'report-collect-')));
  const gen = await putBlob(store, 'generator weights');
  const npz = await putBlob(
    store,
    encodeNpz({ arr_0: { data: new Uint8Array(12 * 8 * 8 * 3).fill(90), shape: [12, 8, 8, 3] }, labels: { data: new Int32Array(12), shape: [12] } }),
  );
  const fidReport = {
    fid: 7.5,
    features: { network: 'inception-v3-fid-2015-12-05', weightsDigest: `sha256:${'ab'.repeat(32)}` },
    inputs: { a: { kind: 'image-folder' }, b: { kind: 'npz-samples' } },
  };
  const fidBlob = await putBlob(store, JSON.stringify(fidReport));
  const genOut: OutputEntry = { type: 'file', digest: gen.digest, bytes: gen.bytes, fileName: 'g.safetensors' };
  const npzOut: OutputEntry = { type: 'file', digest: npz.digest, bytes: npz.bytes, fileName: 'samples.npz' };
  const fidOut: OutputEntry = { type: 'file', digest: fidBlob.digest, bytes: fidBlob.bytes, fileName: 'metrics.json' };
  await entry(store, key('1'), 'generator.train', { generator: genOut });
  await writeStageHistory(store, {
    schema: HISTORY_SCHEMA,
    key: key('1'),
    stage: { id: 'gen', kind: 'generator.train' },
    maxPoints: 500,
    series: { loss: { steps: [1, 2, 3], values: [3, 2, 1], reports: 3 }, lr: { steps: [1, 2, 3], values: [1e-3, 1e-3, 5e-4], reports: 3 } },
  });
  await entry(store, key('2'), 'generator.sample', { samples: npzOut });
  await entry(store, key('3'), 'eval.fid', { metrics: fidOut }, { fid: 7.5 });
  const material = (inputs: Record<string, string>) => ({ kind: 'k', version: '1', config: {}, inputDigests: inputs, seed: 0 });
  const record: RunRecord = {
    schema: 'robustok.dev/run-record/v1',
    runId: 'collect-run',
    name: 'collect',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:10:00Z',
    outcome: 'failed',
    stages: [
      run('gen', 'generator.train', [0, 1], { key: key('1'), outcome: 'cached', attempts: 0, outputs: { generator: genOut } }),
      run('sample#a', 'generator.sample', [0], { key: key('2'), outputs: { samples: npzOut }, material: material({ generator: gen.digest }) }),
      run('fid#a', 'eval.fid', [0], {
        key: key('3'),
        outputs: { metrics: fidOut },
        metrics: { fid: 7.5, weightsDigest: fidReport.features.weightsDigest },
        material: material({ samples: npz.digest }),
      }),
      run('sample#b', 'generator.sample', [1], {
        key: key('4'),
        outcome: 'failed',
        error: { code: 'NAN_LOSS', message: 'non-finite <loss> at step 3' },
        material: material({ generator: gen.digest }),
      }),
      run('fid#b', 'eval.fid', [1], { outcome: 'skipped', attempts: 0, error: { code: 'SKIPPED', message: 'an upstream stage failed or was skipped' } }),
    ],
    arms: [
      { index: 0, label: 'guidanceScale=4', outcome: 'succeeded', metrics: { 'fid.fid': 7.5 } },
      { index: 1, label: 'guidanceScale=6', outcome: 'failed', metrics: {} },
    ],
  };
  const out = await mkdtemp(path.join(os.tmpdir(), 'report-out-'));
  const { data, html: htmlFile, csv } = await writeReport(store, record, out);
  const html = await readFile(htmlFile, 'utf8');

  assert.deepEqual(
    data.pivot.axes.map((a) => [a.label, a.values]),
    [['guidanceScale', [4, 6]]],
  );
  assert.deepEqual(data.edges, [
    { from: 'gen', to: 'sample#a' },
    { from: 'sample#a', to: 'fid#a' },
    { from: 'gen', to: 'sample#b' },
  ]);
  assert.equal(data.grids[0]?.grid?.images, 12);
  assert.equal(data.grids[0]?.grid?.tile.width, 8);
  assert.equal(data.grids[1]?.grid, undefined, 'the failed arm has no samples');
  assert.deepEqual(
    data.provenance.map((p) => [p.stageRunId, p.comparable, p.referenceKind]),
    [['fid#a', false, 'image-folder']],
  );
  assert.match(html, /NOT COMPARABLE WITH PUBLISHED NUMBERS[^<]*the reference is an image folder/);
  assert.match(html, /data-arm="0" data-key="fid\.fid" data-value="7\.5"/);
  assert.match(html, /data-arm="1" data-key="fid\.fid" data-value=""/);
  assert.match(html, /NAN_LOSS: non-finite &lt;loss&gt; at step 3/, 'errors shown, escaped');
  assert.match(html, /<td><span class="badge" style="background:#9e9e9e">skipped<\/span>/);
  assert.match(html, /no stored plan/);
  assert.match(html, /data-metric="loss"><svg/);
  assert.match(html, /from the run that computed this cache entry/);
  assert.match(html, /<img class="sample-grid" alt="samples of arm 0"[^>]*src="data:image\/png;base64,/);
  assert.match(html, new RegExp(`file://[^<]*/cas/sha256/${npz.digest.slice(0, 2)}/${npz.digest}`));
  assert.equal((await readFile(csv, 'utf8')).trim(), 'arm,label,outcome,guidanceScale,fid.fid\n0,guidanceScale=4,succeeded,4,7.5\n1,guidanceScale=6,failed,6,');

  // With the plan stored beside the record, the record itself learns each arm's values.
  const plan = {
    name: 'collect',
    arms: [
      { index: 0, label: 'guidanceScale=4', params: { 'stages.sample.config.guidanceScale': 4 } },
      { index: 1, label: 'guidanceScale=6', params: { 'stages.sample.config.guidanceScale': 6 } },
    ],
    runs: [],
    failurePolicy: 'continue',
    concurrency: {},
  } as unknown as Plan;
  await writeRunPlan(store, record.runId, plan);
  const enriched = await attachArmParams(store, record);
  assert.deepEqual(
    enriched.arms.map((a) => a.params),
    [{ 'stages.sample.config.guidanceScale': 4 }, { 'stages.sample.config.guidanceScale': 6 }],
  );
  const again = await writeReport(store, enriched, out);
  assert.deepEqual(
    again.data.pivot.axes.map((a) => a.path),
    ['stages.sample.config.guidanceScale'],
  );
});
