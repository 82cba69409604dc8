import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { attend, Attention, causalBias } from '../../../../models/layers/attention';
import { dropout, dropoutMask } from '../../../../models/layers/dropout';
import { KVCache } from '../../../../models/layers/kv-cache';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak, randomValues, relativeError } from '../../../helpers/tensors';
import { gradCheck, randn, randVar, scaleParams, useCpuBackend } from './gradcheck';

before(useCpuBackend);

const make = (qkNorm = false) => {
  const a = new Attention({ dim: 8, numHeads: 2, qkNorm, rng: Rng.fromSeed(4) });
  scaleParams(a.parameters(), 20); // sharpen the softmax so masking mistakes show
  return a;
};

test('Attention names follow timm/RAR (qkv, q_norm, k_norm, proj)', () => {
  const a = new Attention({ dim: 8, numHeads: 2, qkNorm: true, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...a.parameters()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['qkv.weight:24x8', 'qkv.bias:24', 'q_norm.weight:4', 'q_norm.bias:4', 'k_norm.weight:4', 'k_norm.bias:4', 'proj.weight:8x8', 'proj.bias:8'],
  );
  assert.throws(() => new Attention({ dim: 6, numHeads: 4, rng: Rng.fromSeed(1) }), { code: 'CONFIG_INVALID' });
  a.dispose();
});

test('Attention matches a hand-written single-head reference', () => {
  const a = new Attention({ dim: 4, numHeads: 1, rng: Rng.fromSeed(2) });
  scaleParams(a.parameters(), 10);
  const x = randn([1, 3, 4], 3);
  const [W, b, P, pb] = [a.qkv.weight, a.qkv.bias!, a.proj.weight, a.proj.bias!].map((t) => Array.from(t.dataSync()));
  const xs = Array.from(x.dataSync());
  const lin = (v: number[], w: number[], bias: number[], out: number) =>
    Array.from({ length: out }, (_, o) => bias[o]! + v.reduce((s, vi, i) => s + vi * w[o * v.length + i]!, 0));
  const rows = [0, 1, 2].map((t) => lin(xs.slice(t * 4, t * 4 + 4), W!, b!, 12));
  const q = rows.map((r) => r.slice(0, 4));
  const k = rows.map((r) => r.slice(4, 8));
  const v = rows.map((r) => r.slice(8, 12));
  const expected: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = k.map((kj) => kj.reduce((acc, kv, d) => acc + kv * q[i]![d]!, 0) / 2);
    const m = Math.max(...s);
    const e = s.map((z) => Math.exp(z - m));
    const z = e.reduce((p, c) => p + c, 0);
    const o = [0, 1, 2, 3].map((d) => e.reduce((acc, w, j) => acc + (w / z) * v[j]![d]!, 0));
    expected.push(...lin(o, P!, pb!, 4));
  }
  const y = a.forward(x);
  expectClose(y.dataSync(), expected, 1e-4);
  tf.dispose([x, y]);
  a.dispose();
});

test('causal attention: outputs never depend on later positions', () => {
  const a = make(true);
  const x = randn([2, 5, 8], 7);
  const x2 = tf.tidy(() => tf.concat([x.slice([0, 0, 0], [2, 3, 8]), randn([2, 2, 8], 99)], 1)); // change positions 3, 4
  const [y, y2] = [x, x2].map((t) => a.forward(t, { causal: true })) as [tf.Tensor, tf.Tensor];
  const head = (t: tf.Tensor) => t.slice([0, 0, 0], [2, 3, 8]);
  const [h1, h2] = [head(y), head(y2)];
  expectClose(h1.dataSync(), h2.dataSync(), 1e-6, 'prefix unchanged');
  assert.ok(relativeError(y.dataSync(), y2.dataSync()) > 1e-3, 'later outputs do change');
  tf.dispose([x, x2, y, y2, h1, h2]);
  a.dispose();
});

test('KV-cached incremental decoding equals the full causal forward, without leaks', async () => {
  const a = make(true);
  const x = randn([2, 6, 8], 8);
  const full = a.forward(x, { causal: true });
  await expectNoTensorLeak(() => {
    const cache = new KVCache();
    const steps: tf.Tensor[] = [];
    // a 2-token prompt, then one token per step
    steps.push(tf.tidy(() => a.forward(x.slice([0, 0, 0], [2, 2, 8]), { causal: true, cache })));
    for (let t = 2; t < 6; t++) steps.push(tf.tidy(() => a.forward(x.slice([0, t, 0], [2, 1, 8]), { causal: true, cache })));
    assert.equal(cache.length, 6);
    const inc = tf.concat(steps, 1);
    expectClose(inc.dataSync(), full.dataSync(), 1e-4);
    tf.dispose([...steps, inc]);
    cache.dispose();
  });
  tf.dispose([x, full]);
  a.dispose();
});

test('Attention gradients match finite differences (causal, QK-norm)', async () => {
  await expectNoTensorLeak(() => {
    // head size 4: LayerNorm over 2 values would be a near-step function, useless for finite differences
    const a = new Attention({ dim: 8, numHeads: 2, qkNorm: true, rng: Rng.fromSeed(5) });
    scaleParams(a.parameters(), 10);
    const x = randVar([1, 3, 8], 6);
    gradCheck(() => a.forward(x, { causal: true }), new Map([...a.parameters(), ['x', x]]), { samples: 6, eps: 3e-3 });
    x.dispose();
    a.dispose();
  });
});

test('Attention rejects inputs of the wrong width', () => {
  const a = make();
  const x = tf.zeros([1, 2, 6]);
  assert.throws(() => a.forward(x), { code: 'TENSOR_SHAPE' });
  x.dispose();
  a.dispose();
});

test('attend: forward bit-identical to dropout(softmax(q kᵀ·scale + bias)) v, hand-written gradients equal autodiff', async () => {
  const shape = [2, 3, 5, 4]; // [B, nh, T, hs]
  const n = 2 * 3 * 5 * 4;
  const [q, k, v, dy] = [21, 22, 23, 24].map((seed) => tf.tensor(randomValues(n, seed, 2), shape));
  const textbook = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, scale: number, bias?: tf.Tensor, mask?: tf.Tensor) => {
    let s = tf.matMul(qq, kk, false, true).mul(scale);
    if (bias) s = s.add(bias);
    const p = tf.softmax(s, -1);
    return tf.matMul(mask ? p.mul(mask) : p, vv);
  };
  const bias = causalBias(5, 5, 0);
  const mask = dropoutMask([2, 3, 5, 5], 0.3, Rng.fromSeed(9));
  // scale 0.5: the power-of-two path (q scaled before the product); 0.3: scores scaled
  const cases = [{ scale: 0.5 }, { scale: 0.3 }, { scale: 0.5, bias }, { scale: 0.3, bias }, { scale: 0.5, bias, mask }, { scale: 0.3, mask }];
  for (const c of cases) {
    const label = `scale ${c.scale}${c.bias ? ', causal' : ''}${c.mask ? ', dropout' : ''}`;
    await expectNoTensorLeak(() => {
      const ours = attend(q!, k!, v!, c.scale, c.bias, c.mask);
      const ref = tf.tidy(() => textbook(q!, k!, v!, c.scale, c.bias, c.mask));
      assert.deepEqual(ours.dataSync(), ref.dataSync(), `forward bit-identical (${label})`);
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => attend(a, b, d, c.scale, c.bias, c.mask).mul(dy!).sum())([q!, k!, v!]);
      const gRef = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => textbook(a, b, d, c.scale, c.bias, c.mask).mul(dy!).sum())([q!, k!, v!]);
      g.forEach((t, i) => expectClose(t.dataSync(), gRef[i]!.dataSync(), 1e-5, `gradient ${'qkv'[i]} (${label})`));
      tf.dispose([ours, ref, ...g, ...gRef]);
    });
  }
  tf.dispose([q!, k!, v!, dy!, bias, mask]);
});

test('dropoutMask is the multiplier dropout applies (same draw from the stream)', () => {
  const x = tf.ones([4, 50]);
  const [r1, r2] = [Rng.fromSeed(3), Rng.fromSeed(3)];
  const a = dropout(x, 0.25, r1);
  const m = dropoutMask([4, 50], 0.25, r2);
  assert.deepEqual(a.dataSync(), m.dataSync());
  assert.equal(r1.nextUint32(), r2.nextUint32(), 'streams at the same position');
  const zeros = Array.from(m.dataSync()).filter((z) => z === 0).length;
  assert.ok(zeros > 20 && zeros < 80, `about a quarter dropped, got ${zeros} of 200`);
  tf.dispose([x, a, m]);
});

test('Attention with attention-probability dropout: gradients match finite differences (the mask outlives the forward)', async () => {
  await expectNoTensorLeak(() => {
    const a = new Attention({ dim: 8, numHeads: 2, rng: Rng.fromSeed(5) });
    scaleParams(a.parameters(), 10);
    const x = randVar([1, 4, 8], 6);
    // a fresh stream per call: the same mask every time, as finite differences need
    const forward = () => a.forward(x, { causal: true, dropout: { attn: 0.3, proj: 0, rng: Rng.fromSeed(11) } });
    gradCheck(forward, new Map([...a.parameters(), ['x', x]]), { samples: 6, eps: 3e-3 });
    x.dispose();
    a.dispose();
  });
});
