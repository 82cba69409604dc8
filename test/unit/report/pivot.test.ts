import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RunRecord, StageRunRecord } from '../../../core/run-record';
import type { Plan } from '../../../plan/types';
import { buildPivot, grid2d, headlineColumn, parseArmLabel, pivotCsv, plotView } from '../../../report/pivot';

const stage = (id: string, kind: string, arms: number[], metrics: StageRunRecord['metrics']): StageRunRecord => ({
  id,
  stageId: id.split('#')[0] ?? id,
  arms,
  kind,
  key: 'k',
  outcome: 'ran',
  attempts: 1,
  durationMs: 1,
  outputs: {},
  metrics,
});

function record(): RunRecord {
  const labels = ['sigma=0.3,guidanceScale=4', 'sigma=0.3,guidanceScale=6', 'sigma=0.7,guidanceScale=4', 'sigma=0.7,guidanceScale=6'];
  const fid = [12, 11, 9, 8.5];
  return {
    schema: 'robustok.dev/run-record/v1',
    runId: 'r',
    name: 'p',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:01:00Z',
    outcome: 'succeeded',
    stages: [
      stage('train', 'tokenizer.train', [0, 1, 2, 3], { psnr: 20 }),
      ...fid.map((f, i) => stage(`fid#${i}`, 'eval.fid', [i], { fid: f, is: 3 + i, n_a: 100, weightsDigest: 'random-init:seed=0' })),
    ],
    arms: labels.map((label, index) => ({
      index,
      label,
      outcome: 'succeeded',
      metrics: { 'train.psnr': 20, 'fid.fid': fid[index] ?? 0, 'fid.is': 3 + index, 'fid.n_a': 100, 'fid.weightsDigest': 'random-init:seed=0' },
    })),
  };
}

test('arm labels parse back into axis values, commas inside values included', () => {
  assert.deepEqual(parseArmLabel('sigma=0.7,guidanceScale=6'), [
    ['sigma', 0.7],
    ['guidanceScale', 6],
  ]);
  assert.deepEqual(parseArmLabel('mode=flip,sizes=[1,2],x=a,b'), [
    ['mode', 'flip'],
    ['sizes', [1, 2]],
    ['x', 'a,b'],
  ]);
  assert.deepEqual(parseArmLabel(''), []);
});

test('pivot from labels: axes, eval metrics only (no counts, no digest), shared stages left out, FID first', () => {
  const p = buildPivot(record(), undefined);
  assert.deepEqual(
    p.axes.map((a) => [a.label, a.values]),
    [
      ['sigma', [0.3, 0.7]],
      ['guidanceScale', [4, 6]],
    ],
  );
  assert.deepEqual(
    p.columns.map((c) => c.key),
    ['fid.fid', 'fid.is'],
  );
  assert.equal(headlineColumn(p), 0);
  assert.deepEqual(grid2d(p, 0), [
    [12, 11],
    [9, 8.5],
  ]);
  assert.deepEqual(
    p.rows.map((r) => r.axisValues),
    [
      [0.3, 4],
      [0.3, 6],
      [0.7, 4],
      [0.7, 6],
    ],
  );
});

test('pivot from the stored plan: the paths name the axes; CSV quotes what needs it', () => {
  const r = record();
  const plan = {
    arms: r.arms.map((a, i) => ({
      index: a.index,
      label: a.label,
      params: { 'stages.pairs.config.sigma': i < 2 ? 0.3 : 0.7, 'stages.sample.config.guidanceScale': i % 2 === 0 ? 4 : 6 },
    })),
    runs: [],
  } as unknown as Plan;
  const p = buildPivot(r, plan);
  assert.deepEqual(
    p.axes.map((a) => [a.path, a.label]),
    [
      ['stages.pairs.config.sigma', 'sigma'],
      ['stages.sample.config.guidanceScale', 'guidanceScale'],
    ],
  );
  const csv = pivotCsv(p).trim().split('\n');
  assert.equal(csv[0], 'arm,label,outcome,sigma,guidanceScale,fid.fid,fid.is');
  assert.equal(csv[1], '0,"sigma=0.3,guidanceScale=4",succeeded,0.3,4,12,3');
  assert.equal(csv.length, 5);
});

test('plotView merges axes that move together (a zip of sampling settings against σ)', () => {
  const r = record();
  const settings = [
    [6, 1.15, 1.02],
    [6.75, 1.01, 1.04],
  ];
  const plan = {
    arms: r.arms.map((a, i) => {
      const [g, pow, t] = settings[i % 2] ?? [];
      return {
        index: a.index,
        label: a.label,
        params: {
          'stages.pairs.config.sigma': i < 2 ? 0.3 : 0.7,
          'stages.sample.config.guidanceScale': g,
          'stages.sample.config.guidanceScalePow': pow,
          'stages.sample.config.randomizeTemperature': t,
        },
      };
    }),
    runs: [],
  } as unknown as Plan;
  const p = buildPivot(r, plan);
  assert.equal(p.axes.length, 4);
  const v = plotView(p);
  assert.deepEqual(
    v.axes.map((a) => [a.label, a.values]),
    [
      ['sigma', [0.3, 0.7]],
      ['guidanceScale / guidanceScalePow / randomizeTemperature', ['6 / 1.15 / 1.02', '6.75 / 1.01 / 1.04']],
    ],
  );
  assert.deepEqual(grid2d(v, 0), [
    [12, 11],
    [9, 8.5],
  ]);
  // Independent axes stay as they are.
  const q = buildPivot(r, undefined);
  assert.equal(plotView(q), q);
});
