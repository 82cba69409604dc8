/** expandTo: the value of broadcastTo, a sum-reduction gradient, and no per-tile slices in the backward pass. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { expandTo } from '../../../../models/layers/broadcast';

test('expandTo equals broadcastTo and its gradient is the sum over broadcast axes', async () => {
  await tf.setBackend('cpu');
  const x = tf.tensor3d([1, 2, 3], [1, 1, 3]);
  const y = expandTo(x, [4, 5, 3]);
  assert.deepEqual(y.arraySync(), tf.broadcastTo(x, [4, 5, 3]).arraySync());
  const w = tf.randomNormal([4, 5, 3]);
  const g = tf.grad((t: tf.Tensor) => expandTo(t, [4, 5, 3]).mul(w).sum())(x);
  const want = w.sum([0, 1], true);
  assert.ok(tf.abs(g.sub(want)).max().dataSync()[0]! < 1e-5);
  const before = tf.memory().numTensors;
  const prof = await tf.profile(() =>
    tf.tidy(() => {
      tf.grad((t: tf.Tensor) => expandTo(t, [32, 64, 3]).sum())(x);
    }),
  );
  assert.equal(prof.kernels.filter((k) => k.name === 'Slice').length, 0, 'no per-tile slices');
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => expandTo(x, [4, 5, 2]), /cannot broadcast/);
});
