/**
 * LayerNorm through TensorFlow's fused kernels (models/layers/native-fused.ts) on tfjs-node: forward and
 * gradients equal the tfjs path (the code every other backend runs) to float32 rounding, the gradients
 * pass finite differences, nothing leaks, and the fused kernels really were used (the probe accepted them).
 * Skipped without the native backend.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LayerNorm } from '../../../../models/layers/layer-norm';
import { setNativeOps } from '../../../../compute/native-ops';
import { fusedBackend, setNativeFused } from '../../../../models/layers/native-fused';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { useNativeBackend } from '../../../helpers/native-backend';
import { gradCheck, randVar, setVar } from './gradcheck';

let native = false;
let previous: string | undefined;

before(async () => {
  previous = tf.getBackend();
  native = await useNativeBackend();
  setNativeOps(false); // this file tests TensorFlow's oneDNN kernels; our op library has native-ops.test.ts
});

after(async () => {
  setNativeFused(undefined);
  setNativeOps(undefined);
  if (previous) await tf.setBackend(previous);
});

/** y, dx, dw, db of Σ LayerNorm(x) ⊙ dy with the fused kernels on or off. */
function forwardAndGrads(ln: LayerNorm, x: tf.Tensor, dy: tf.Tensor, fused: boolean): Float32Array[] {
  setNativeFused(fused);
  try {
    return tf.tidy(() => {
      const y = ln.forward(x);
      const params = ln.weight && ln.bias ? [ln.weight, ln.bias] : [];
      const gx = tf.grad((xx: tf.Tensor) => ln.forward(xx).mul(dy).sum())(x);
      const out = [y, gx];
      if (params.length > 0) {
        const { value, grads } = tf.variableGrads(() => ln.forward(x).mul(dy).sum(), params);
        value.dispose();
        out.push(...params.map((p) => grads[p.name]!));
      }
      return out.map((t) => t.dataSync() as Float32Array);
    });
  } finally {
    setNativeFused(undefined);
  }
}

for (const { shape, affine, eps } of [
  { shape: [4, 9, 64], affine: true, eps: 1e-6 },
  { shape: [2, 3, 5, 16], affine: true, eps: 1e-6 }, // QK-norm's [B, nh, T, hs]: the kernel takes 3-D, so a reshape either side
  { shape: [37, 128], affine: true, eps: 1e-5 },
  { shape: [3, 7, 32], affine: false, eps: 1e-6 }, // RAR's final norm: stays on the tfjs path (the fused kernels lose there)
]) {
  test(`fused LayerNorm ${JSON.stringify(shape)} affine=${affine}: forward and gradients equal the tfjs path to rounding`, async (t) => {
    if (!native) return t.skip('tfjs-node not available');
    assert.ok(fusedBackend(tf.zeros([1])), 'the fused kernels probe failed on tfjs-node: the native path would never run');
    const d = shape[shape.length - 1]!;
    const ln = new LayerNorm({ dim: d, eps, affine });
    if (affine) {
      setVar(ln.weight!, Array.from(randomValues(d, 3, 1.5)));
      setVar(ln.bias!, Array.from(randomValues(d, 4, 0.5)));
    }
    const size = shape.reduce((a, b) => a * b, 1);
    // rows with an offset and spread, as activations have (LayerNorm must remove both)
    const x = tf.tidy(() => tf.tensor(randomValues(size, 5, 2), shape).add(tf.tensor(randomValues(size / d, 6, 3), [...shape.slice(0, -1), 1])));
    const dy = tf.tensor(randomValues(size, 7), shape);
    const fused = await expectNoTensorLeak(() => forwardAndGrads(ln, x, dy, true));
    const plain = forwardAndGrads(ln, x, dy, false);
    const labels = ['y', 'dx', 'dw', 'db'];
    fused.forEach((v, i) => expectClose(v, plain[i]!, 2e-5, labels[i]));
    tf.dispose([x, dy]);
    ln.dispose();
  });
}

test('fused LayerNorm passes the finite-difference check (affine and plain)', async (t) => {
  if (!native) return t.skip('tfjs-node not available');
  setNativeFused(true);
  try {
    for (const affine of [true, false]) {
      const ln = new LayerNorm({ dim: 6, eps: 1e-6, affine });
      if (affine) setVar(ln.weight!, [0.5, 1, 1.5, 2, -1, 0.25]);
      await expectNoTensorLeak(() => {
        const x = randVar([2, 3, 6], 8);
        gradCheck(() => ln.forward(x), new Map([...ln.parameters(), ['x', x]]));
        x.dispose();
      });
      ln.dispose();
    }
  } finally {
    setNativeFused(undefined);
  }
});
