/**
 * RAR's cross-entropy through TensorFlow's fused SparseSoftmaxCrossEntropyWithLogits (native backend)
 * against the portable log-softmax · one-hot path: loss and gradient (with an upstream factor) equal to
 * float32 rounding, and by central finite differences in float32; no leaks. Skipped without the native backend.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { fusedBackend, setNativeFused } from '../../../../models/layers/native-fused';
import { crossEntropy, crossEntropyPortable } from '../../../../models/training/rar-trainer';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { useNativeBackend } from '../../../helpers/native-backend';

let native = false;
let previous: string | undefined;

before(async () => {
  previous = tf.getBackend();
  native = (await useNativeBackend()) && fusedBackend(tf.zeros([1]), 'crossEntropy') !== undefined;
});

after(async () => {
  setNativeFused(undefined);
  if (previous) await tf.setBackend(previous);
});

/** Loss and d(2.5·loss)/dlogits (an upstream gradient other than 1). */
function lossAndGrad(f: (x: tf.Tensor, l: tf.Tensor) => tf.Scalar, logits: tf.Tensor, labels: tf.Tensor): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const value = f(logits, labels);
    const g = tf.grad((x: tf.Tensor) => f(x, labels).mul(2.5))(logits);
    return [value.dataSync() as Float32Array, g.dataSync() as Float32Array];
  });
}

for (const [N, K, scale] of [
  [37, 29, 3],
  [256, 512, 8],
] as const) {
  test(`fused cross-entropy = log-softmax · one-hot at [${N}, ${K}], logits ×${scale}: loss and gradient to float32 rounding`, async (t) => {
    if (!native) return t.skip('no native backend');
    const logits = tf.tensor2d(randomValues(N * K, 3 + N, scale), [N, K]);
    const labels = tf.tensor1d(
      Int32Array.from({ length: N }, (_, i) => (i * 7919) % K),
      'int32',
    );
    setNativeFused(false);
    assert.equal(fusedBackend(logits, 'crossEntropy'), undefined);
    const [refLoss, refGrad] = lossAndGrad(crossEntropy, logits, labels);
    setNativeFused(['crossEntropy']);
    assert.notEqual(fusedBackend(logits, 'crossEntropy'), undefined);
    const [loss, grad] = await expectNoTensorLeak(() => lossAndGrad(crossEntropy, logits, labels));
    expectClose(loss, refLoss, 1e-6, 'loss');
    expectClose(grad, refGrad, 2e-6, 'gradient');
    // the portable function is the reference whatever the switch says
    assert.deepEqual(Array.from(lossAndGrad(crossEntropyPortable, logits, labels)[0]), Array.from(refLoss));
    setNativeFused(undefined);
    tf.dispose([logits, labels]);
  });
}

test('fused cross-entropy gradient against central finite differences', (t) => {
  if (!native) return t.skip('no native backend');
  const [N, K] = [5, 7];
  const values = randomValues(N * K, 17, 2);
  const labels = tf.tensor1d([0, 6, 3, 3, 1], 'int32');
  setNativeFused(['crossEntropy']);
  const logits = tf.tensor2d(values, [N, K]);
  const [, grad] = lossAndGrad(crossEntropy, logits, labels);
  const h = 1e-2;
  const at = (v: Float32Array) =>
    tf.tidy(
      () =>
        crossEntropy(tf.tensor2d(v, [N, K]), labels)
          .mul(2.5)
          .dataSync()[0]!,
    );
  const fd = Array.from({ length: N * K }, (_, i) => {
    const plus = Float32Array.from(values);
    const minus = Float32Array.from(values);
    plus[i]! += h;
    minus[i]! -= h;
    return (at(plus) - at(minus)) / (2 * h);
  });
  expectClose(grad, fd, 2e-3, 'finite differences');
  setNativeFused(undefined);
  tf.dispose([logits, labels]);
});
