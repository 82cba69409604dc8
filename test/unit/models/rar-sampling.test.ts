import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { onNativeBackend } from '../../helpers/native-backend';
import { deferredExecutionMode, deferredStats } from '../../../compute/deferred-execution';
import type { Rar } from '../../../models/rar';
import { RarConfig } from '../../../models/rar-config';
import { cfgScale, drawToken, keepMask, sampleRar, sampleRng, type RarSamplingOptions } from '../../../models/rar-sampling';
import { Rng } from '../../../models/training/rng';
import { perturbedRar } from '../../helpers/rar-models';
import { expectNoTensorLeak } from '../../helpers/tensors';

before(async () => {
  await tf.setBackend('cpu');
});

const tiny = RarConfig.parse({ hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 32, imageSeqLen: 8, codebookSize: 12, numClasses: 4 });

const build = (): Rar => perturbedRar(tiny, { initSeed: 5, drawSeed: 55, std: 0.3 });

const opts: RarSamplingOptions = { guidanceScale: 3, guidanceScalePow: 1.15, randomizeTemperature: 1.02, seed: 42 };
const classes = [0, 3, 1, 2];

test('power-cosine guidance schedule (§6)', () => {
  assert.equal(cfgScale(0, 256, 6, 1.15), 1);
  assert.ok(Math.abs(cfgScale(128, 256, 6, 1) - 3.5) < 1e-12); // (1 − cos(π/2))/2 = 1/2
  assert.ok(Math.abs(cfgScale(255, 256, 6, 1.15) - 6) < 1e-3);
  const s = 100 / 256;
  assert.ok(Math.abs(cfgScale(100, 256, 6.75, 1.01) - ((5.75 * (1 - Math.cos(Math.PI * s ** 1.01))) / 2 + 1)) < 1e-12);
  for (let i = 1; i < 256; i++) assert.ok(cfgScale(i, 256, 6, 2.75) >= cfgScale(i - 1, 256, 6, 2.75), 'non-decreasing');
});

test('drawToken follows softmax(logits / T)', () => {
  const logits = [2, 0, -1, 1];
  const T = 0.8;
  const p = logits.map((l) => Math.exp(l / T));
  const z = p.reduce((a, b) => a + b);
  const counts = [0, 0, 0, 0];
  const rng = Rng.fromSeed(3);
  const N = 20000;
  for (let i = 0; i < N; i++) counts[drawToken(logits, T, rng)]! += 1;
  counts.forEach((c, i) => assert.ok(Math.abs(c / N - p[i]! / z) < 0.015, `token ${i}: ${c / N} vs ${p[i]! / z}`));
  assert.throws(() => drawToken([Number.NaN, 1], 1, rng), { code: 'NAN_LOSS' });
});

test('a sample does not depend on the batch it runs in; KV cache = full recomputation', async () => {
  const m = build();
  await expectNoTensorLeak(async () => {
    const all = await sampleRar(m, classes, opts);
    const a = await sampleRar(m, classes.slice(0, 2), { ...opts, sampleIndices: [0, 1] });
    const b = await sampleRar(m, classes.slice(2), { ...opts, sampleIndices: [2, 3] });
    assert.deepEqual(Array.from(all), [...a, ...b]);
    const full = await sampleRar(m, classes, { ...opts, kvCache: false });
    assert.deepEqual(Array.from(full), Array.from(all));
    assert.ok(all.every((t) => t >= 0 && t < tiny.codebookSize));
    const other = await sampleRar(m, classes, { ...opts, seed: 43 });
    assert.notDeepEqual(Array.from(other), Array.from(all));
    // guidance 0: no CFG batch (upstream's test), a different distribution than guided sampling
    const unguided = await sampleRar(m, classes, { ...opts, guidanceScale: 0 });
    assert.equal(unguided.length, all.length);
  });
  m.dispose();
});

test('teacher forcing: σ = 1 returns the ground truth, σ = 0 equals free sampling, mixed prefixes condition later steps', async () => {
  const m = build();
  const L = tiny.imageSeqLen;
  const gt = Int32Array.from({ length: classes.length * L }, (_, i) => (i * 7) % tiny.codebookSize);
  const free = await sampleRar(m, classes, opts);
  const mask = (sigma: number) => Uint8Array.from(classes.flatMap((_, b) => Array.from(keepMask(7, b, L, sigma))));
  assert.deepEqual(Array.from(await sampleRar(m, classes, { ...opts, teacherForcing: { tokens: gt, keep: mask(1) } })), Array.from(gt));
  assert.deepEqual(Array.from(await sampleRar(m, classes, { ...opts, teacherForcing: { tokens: gt, keep: mask(0) } })), Array.from(free));
  const keep = mask(0.5);
  const mixed = await sampleRar(m, classes, { ...opts, teacherForcing: { tokens: gt, keep } });
  for (let i = 0; i < gt.length; i++) if (keep[i]) assert.equal(mixed[i], gt[i]);
  // forcing a prefix: later steps condition on it (tails move away from free sampling) and not on
  // ground-truth ids that were not kept
  const prefixKeep = Uint8Array.from(gt, (_, i) => (i % L < 3 ? 1 : 0));
  const forced = await sampleRar(m, classes, { ...opts, teacherForcing: { tokens: gt, keep: prefixKeep } });
  const gt2 = Int32Array.from(gt, (v, i) => (i % L < 3 ? v : (v + 5) % tiny.codebookSize));
  assert.deepEqual(Array.from(await sampleRar(m, classes, { ...opts, teacherForcing: { tokens: gt2, keep: prefixKeep } })), Array.from(forced));
  const tails = (a: Int32Array) => Array.from(a).filter((_, i) => i % L >= 3);
  assert.notDeepEqual(tails(forced), tails(free));
  const k = keepMask(7, 0, 10000, 0.7);
  assert.ok(Math.abs(k.reduce((a, v) => a + v, 0) / 10000 - 0.7) < 0.02);
  assert.throws(() => keepMask(1, 0, 4, 1.5), { code: 'CONFIG_INVALID' });
  await assert.rejects(sampleRar(m, classes, { ...opts, teacherForcing: { tokens: gt.slice(1), keep } }), { code: 'TENSOR_SHAPE' });
  m.dispose();
});

test('per-sample streams are keyed by (seed, index)', () => {
  assert.equal(sampleRng(1, 5).nextUint32(), sampleRng(1, 5).nextUint32());
  assert.notEqual(sampleRng(1, 5).nextUint32(), sampleRng(1, 6).nextUint32());
  assert.notEqual(sampleRng(1, 5).nextUint32(), sampleRng(2, 5).nextUint32());
});

test('modelBatch: a sample runs at a fixed row of a fixed-size model batch, so any split gives its tokens (native backend too)', async (t) => {
  const check = async () => {
    const m = build();
    const cls = [0, 3, 1, 2, 2, 1, 0, 3, 1];
    const o = { ...opts, modelBatch: 4 };
    const whole = Array.from(await sampleRar(m, cls, o));
    const a = await sampleRar(m, cls.slice(0, 3), { ...o, sampleIndices: [0, 1, 2] });
    const b = await sampleRar(m, cls.slice(3), { ...o, sampleIndices: [3, 4, 5, 6, 7, 8] });
    assert.deepEqual([...a, ...b], whole);
    const L = tiny.imageSeqLen;
    const picked = await sampleRar(m, [cls[7]!, cls[2]!], { ...o, sampleIndices: [7, 2] });
    assert.deepEqual(Array.from(picked), [...whole.slice(7 * L, 8 * L), ...whole.slice(2 * L, 3 * L)]);
    await assert.rejects(sampleRar(m, [0, 0], { ...o, sampleIndices: [1, 1] }), { code: 'CONFIG_INVALID' });
    m.dispose();
  };
  await check();
  try {
    await initBackend({ backend: 'tensorflow', log: null });
  } catch {
    t.diagnostic('tfjs-node not available: checked on the cpu backend only');
    return;
  }
  await check();
  await tf.setBackend('cpu');
});

test('Rar.forward row option: one output row, equal to that row of the full output; tokens after it change nothing (causal)', () => {
  const m = build();
  const R = 3;
  const n = 6;
  const cond = tf.tensor1d(m.conditionIds([0, 2, 3]), 'int32');
  const ids = tf.tensor2d(
    Int32Array.from({ length: R * n }, (_, i) => (i * 5) % tiny.codebookSize),
    [R, n],
    'int32',
  );
  const later = tf.tensor2d(
    Int32Array.from({ length: R * n }, (_, i) => (i % n < 3 ? (i * 5) % tiny.codebookSize : (i * 3 + 1) % tiny.codebookSize)),
    [R, n],
    'int32',
  );
  const full = m.forward(ids, cond); // [R, n + 1, K]
  for (const row of [0, 3, n]) {
    const one = m.forward(ids, cond, { row });
    assert.deepEqual(one.shape, [R, 1, tiny.codebookSize]);
    const want = full.slice([0, row, 0], [R, 1, -1]);
    assert.ok(tf.max(tf.abs(one.sub(want))).dataSync()[0]! < 1e-5, `row ${row}`);
    tf.dispose([one, want]);
  }
  // rows 0..3 see tokens 0..2 only: different tokens at 3.. leave them alone
  const a = m.forward(ids, cond, { row: 3 });
  const b = m.forward(later, cond, { row: 3 });
  assert.ok(tf.max(tf.abs(a.sub(b))).dataSync()[0]! < 1e-5);
  assert.throws(() => m.forward(ids, cond, { row: n + 1 }), { code: 'TENSOR_SHAPE' });
  tf.dispose([cond, ids, later, full, a, b]);
  m.dispose();
});

test('no-cache sampling on the native backend (padded prefixes run as deferred graphs) gives the KV-cache tokens', async (t) => {
  await onNativeBackend(
    t,
    async () => {
      // L = 20: prefix lengths padded to 0, 8, 16, 20, so every length but 0 serves several steps
      const cfg = RarConfig.parse({ ...tiny, imageSeqLen: 20 });
      const m = perturbedRar(cfg, { initSeed: 5, drawSeed: 55, std: 0.3 });
      const runsBefore = deferredStats()?.graphRuns ?? 0;
      await expectNoTensorLeak(async () => {
        const kv = await sampleRar(m, classes, opts);
        const full = await sampleRar(m, classes, { ...opts, kvCache: false });
        assert.deepEqual(Array.from(full), Array.from(kv));
        // a second call replays the graphs of the first
        assert.deepEqual(Array.from(await sampleRar(m, classes, { ...opts, kvCache: false })), Array.from(kv));
      });
      if (deferredExecutionMode() === 'graph') assert.ok((deferredStats()?.graphRuns ?? 0) > runsBefore + 20, 'steps ran as graph calls');
      m.dispose();
    },
    'tfjs-node not available: checked on the cpu backend only',
  );
});
