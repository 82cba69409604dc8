import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { straightThrough, stopGradient } from '../../../../models/layers/stop-gradient';
import { l2Normalize, VectorQuantizer } from '../../../../models/layers/vector-quantizer';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randn, randVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

const norm = (v: number[]) => {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};

test('VQ: codebook name/shape, unit-norm init, nearest code by cosine, closed-form losses', async () => {
  const vq = new VectorQuantizer({ codebookSize: 6, dim: 3, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...vq.parameters()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['embedding.weight:6x3'],
  );
  const rowNorms = tf.tidy(() => vq.embedding.weight.square().sum(1).sqrt());
  expectClose(rowNorms.dataSync(), Array(6).fill(1), 1e-5);
  rowNorms.dispose();
  const cb = (vq.embedding.weight.arraySync() as number[][]).map(norm);
  await expectNoTensorLeak(() => {
    const z = randn([2, 4, 3], 2); // [B, N, D]
    const { zq, indices, codebookLoss, commitLoss } = vq.forward(z);
    assert.deepEqual(zq.shape, [2, 4, 3]);
    assert.deepEqual(indices.shape, [2, 4]);
    assert.equal(indices.dtype, 'int32');
    const zs = (z.arraySync() as number[][][]).flat().map(norm);
    const ids = Array.from(indices.dataSync());
    let sq = 0;
    zs.forEach((zn, m) => {
      const cos = cb.map((c) => c.reduce((s, ci, d) => s + ci * zn[d]!, 0));
      assert.equal(ids[m], cos.indexOf(Math.max(...cos)), `token ${m} takes the max-cosine code`);
      sq += cb[ids[m]]!.reduce((s, ci, d) => s + (ci - zn[d]!) ** 2, 0);
    });
    const mse = sq / (8 * 3);
    expectClose(codebookLoss.dataSync(), [mse], 1e-4, 'codebook loss');
    expectClose(commitLoss.dataSync(), [0.25 * mse], 1e-4, 'commit loss');
    expectClose(
      zq.dataSync(),
      ids.flatMap((i) => cb[i]!),
      1e-5,
      'zq = normalised code rows',
    );
    tf.dispose([z, zq, indices, codebookLoss, commitLoss]);
  });
  vq.dispose();
});

test('straight-through: the gradient w.r.t. z is that of normalize(z), the codebook gets none from zq', async () => {
  await expectNoTensorLeak(() => {
    const vq = new VectorQuantizer({ codebookSize: 5, dim: 4, rng: Rng.fromSeed(3) });
    const z = randVar([3, 4], 4);
    const w = randn([3, 4], 5);
    const f = () => tf.tidy(() => vq.forward(z).zq.mul(w).sum<tf.Scalar>());
    const { grads, value } = tf.variableGrads(f, [z, vq.embedding.weight]);
    const gRef = tf.grad((x: tf.Tensor) => l2Normalize(x).mul(w).sum())(z);
    expectClose(grads[z.name]!.dataSync(), gRef.dataSync(), 1e-5, 'dz');
    assert.ok(
      Array.from(grads[vq.embedding.weight.name]!.dataSync()).every((g) => g === 0),
      'no codebook gradient through zq',
    );
    tf.dispose([value, gRef, w, ...Object.values(grads)]);
    z.dispose();
    vq.dispose();
  });
});

test('VQ losses pass the finite-difference check (codebook through codebookLoss, z through commitLoss)', async () => {
  await expectNoTensorLeak(() => {
    const vq = new VectorQuantizer({ codebookSize: 4, dim: 3, rng: Rng.fromSeed(6) });
    const z = randVar([5, 3], 7);
    // small steps: the argmin must not flip between the ± evaluations
    gradCheck(() => vq.forward(z).codebookLoss, new Map([['embedding.weight', vq.embedding.weight]]), { eps: 1e-3, tol: 3e-2 });
    gradCheck(() => vq.forward(z).commitLoss, new Map([['z', z]]), { eps: 1e-3, tol: 3e-2 });
    z.dispose();
    vq.dispose();
  });
});

test('stopGradient and straightThrough values', async () => {
  await expectNoTensorLeak(() => {
    const [a, b] = [tf.tensor1d([1, 2]), tf.tensor1d([5, 7])];
    const s = stopGradient(a);
    const t = straightThrough(a, b);
    assert.deepEqual(Array.from(s.dataSync()), [1, 2]);
    assert.deepEqual(Array.from(t.dataSync()), [5, 7]);
    const g = tf.grad((x: tf.Tensor) => stopGradient(x).sum())(a);
    assert.deepEqual(Array.from(g.dataSync()), [0, 0]);
    tf.dispose([a, b, s, t, g]);
  });
});

test('VQ lookup returns unit-norm code rows; a wrong width is TENSOR_SHAPE', () => {
  const vq = new VectorQuantizer({ codebookSize: 4, dim: 2, rng: Rng.fromSeed(8) });
  const ids = tf.tensor1d([3, 0], 'int32');
  const rows = vq.lookup(ids);
  const cb = (vq.embedding.weight.arraySync() as number[][]).map(norm);
  expectClose(rows.dataSync(), [...cb[3]!, ...cb[0]!], 1e-6);
  const bad = tf.zeros([2, 3]);
  assert.throws(() => vq.forward(bad), { code: 'TENSOR_SHAPE' });
  tf.dispose([ids, rows, bad]);
  vq.dispose();
});
