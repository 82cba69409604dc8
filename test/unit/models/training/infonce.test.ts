import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { infoNce } from '../../../../models/training/infonce';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { useCpuBackend } from '../layers/gradcheck';

before(useCpuBackend);

/** The same loss computed directly in float64. */
function reference(zs: Float32Array, zq: Float32Array, B: number, D: number, s: number): number {
  const logits = (i: number, j: number) => {
    let acc = 0;
    for (let d = 0; d < D; d++) acc += (zs[i * D + d] as number) * (zq[j * D + d] as number);
    return s * acc;
  };
  const ce = (row: (j: number) => number, label: number) => {
    const vals = Array.from({ length: B }, (_, j) => row(j));
    const m = Math.max(...vals);
    return Math.log(vals.reduce((a, v) => a + Math.exp(v - m), 0)) + m - (vals[label] as number);
  };
  let rows = 0;
  let cols = 0;
  for (let i = 0; i < B; i++) {
    rows += ce((j) => logits(i, j), i);
    cols += ce((j) => logits(j, i), i);
  }
  return (rows / B + cols / B) / 2;
}

test('symmetric InfoNCE equals a direct float64 computation (no normalisation)', async () => {
  for (const [B, D, s] of [
    [8, 16, 1],
    [5, 3, 2.5],
    [1, 4, 1],
  ] as const) {
    const a = randomValues(B * D, B + D, 3);
    const b = randomValues(B * D, B * D, 3);
    await expectNoTensorLeak(() => {
      const zs = tf.tensor2d(a, [B, D]);
      const zq = tf.tensor2d(b, [B, D]);
      const l = infoNce(zs, zq, s);
      expectClose(l.dataSync(), [reference(a, b, B, D, s)], 1e-5, `B=${B} D=${D} s=${s}`);
      tf.dispose([zs, zq, l]);
    });
  }
});

test('InfoNCE gradients exist, are finite and pull matching pairs together', async () => {
  await expectNoTensorLeak(() => {
    const zs = tf.tensor2d(randomValues(6 * 4, 1), [6, 4]);
    const zq = tf.tensor2d(randomValues(6 * 4, 2), [6, 4]);
    const g = tf.grad((q: tf.Tensor) => infoNce(zs, q))(zq);
    assert.ok(g.dataSync().every(Number.isFinite));
    // a small step against the gradient lowers the loss
    const l0 = infoNce(zs, zq);
    const stepped = tf.tidy(() => zq.sub(g.mul(0.1)));
    const l1 = infoNce(zs, stepped);
    assert.ok(l1.dataSync()[0]! < l0.dataSync()[0]!);
    tf.dispose([zs, zq, g, l0, stepped, l1]);
  });
});

test('shape mismatch is a TENSOR_SHAPE error', () => {
  const a = tf.zeros([2, 3]);
  const b = tf.zeros([2, 4]);
  assert.throws(() => infoNce(a, b), /expected shape/);
  tf.dispose([a, b]);
});
