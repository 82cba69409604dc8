/**
 * The other users of TensorFlow's fused kernels (models/layers/native-fused.ts) on tfjs-node, each
 * against its tfjs path (fused kernels off): Linear's BiasAdd/BiasAddGrad (forward bit-identical) and the
 * attention core's oneDNN softmax (within 1e-7), exact GELU's native backward (forward bit-identical); gradients to float32 rounding and by finite
 * differences; no leaks. Skipped without the native backend.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { gelu } from '../../../../models/layers/activations';
import { attend, causalBias } from '../../../../models/layers/attention';
import { Linear, linear } from '../../../../models/layers/linear';
import { setNativeOps } from '../../../../compute/native-ops';
import { fusedBackend, setNativeFused } from '../../../../models/layers/native-fused';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { useNativeBackend } from '../../../helpers/native-backend';
import { gradCheck, randVar } from './gradcheck';

let native = false;
let previous: string | undefined;

before(async () => {
  previous = tf.getBackend();
  native = (await useNativeBackend()) && fusedBackend(tf.zeros([1])) !== undefined;
});

after(async () => {
  setNativeFused(undefined);
  if (previous) await tf.setBackend(previous);
});

/** Forward output and gradients of Σ f(inputs) ⊙ dy w.r.t. every input, with the fused kernels on or off. */
function withFused(fused: boolean, f: (...xs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], dy: tf.Tensor): Float32Array[] {
  setNativeFused(fused);
  setNativeOps(false); // this file tests TensorFlow's kernels; our op library has native-ops.test.ts
  try {
    return tf.tidy(() => {
      const y = f(...inputs);
      const grads = tf.grads((...xs: tf.Tensor[]) =>
        f(...xs)
          .mul(dy)
          .sum(),
      )(inputs);
      return [y, ...grads].map((t) => t.dataSync() as Float32Array);
    });
  } finally {
    setNativeFused(undefined);
    setNativeOps(undefined);
  }
}

test('Linear with BiasAdd/BiasAddGrad: forward bit-identical, gradients equal the tfjs path, finite differences pass', async (t) => {
  if (!native) return t.skip('tfjs-node with the fused kernels not available');
  const lin = new Linear({ inFeatures: 24, outFeatures: 40, rng: Rng.fromSeed(3) });
  const bias = tf.tensor(randomValues(40, 4), [40]);
  lin.bias!.assign(bias);
  bias.dispose();
  for (const shape of [
    [3, 7, 24],
    [11, 24],
  ]) {
    const x = tf.tensor(
      randomValues(
        shape.reduce((a, b) => a * b, 1),
        5,
      ),
      shape,
    );
    const dy = tf.tensor(randomValues((x.size / 24) * 40, 6), [...shape.slice(0, -1), 40]);
    // two uses of the weights and bias: the bias gradient hands dy on as is, and accumulating must not free it early
    const f = (xx: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => linear(xx, w, b).add(linear(xx.mul(0.5), w, b));
    const fused = await expectNoTensorLeak(() => withFused(true, f, [x, lin.weight, lin.bias!], dy));
    const plain = withFused(false, f, [x, lin.weight, lin.bias!], dy);
    assert.deepEqual(fused[0], plain[0], `forward bit-identical ${JSON.stringify(shape)}`);
    ['dx', 'dw', 'db'].forEach((label, i) => expectClose(fused[i + 1]!, plain[i + 1]!, 1e-5, label));
    tf.dispose([x, dy]);
  }
  setNativeFused(true);
  try {
    await expectNoTensorLeak(() => {
      const x = randVar([2, 5, 24], 11);
      gradCheck(() => lin.forward(x), new Map([...lin.parameters(), ['x', x]]));
      x.dispose();
    });
  } finally {
    setNativeFused(undefined);
  }
  lin.dispose();
});

test('attention core with oneDNN softmax: forward within 1e-6 of tf.softmax, gradients equal, with causal bias', async (t) => {
  if (!native) return t.skip('tfjs-node with the fused kernels not available');
  const [B, nh, T, hs] = [2, 3, 9, 16];
  const n = B * nh * T * hs;
  const q = tf.tensor(randomValues(n, 7, 2), [B, nh, T, hs]);
  const k = tf.tensor(randomValues(n, 8, 2), [B, nh, T, hs]);
  const v = tf.tensor(randomValues(n, 9), [B, nh, T, hs]);
  const dy = tf.tensor(randomValues(n, 10), [B, nh, T, hs]);
  const bias = causalBias(T, T, 0);
  for (const scale of [0.25, 1 / Math.sqrt(hs + 1)]) {
    const f = (qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor) => attend(qq, kk, vv, scale, bias);
    const fused = await expectNoTensorLeak(() => withFused(true, f, [q, k, v], dy));
    const plain = withFused(false, f, [q, k, v], dy);
    ['o', 'dq', 'dk', 'dv'].forEach((label, i) => expectClose(fused[i]!, plain[i]!, 1e-5, `${label} (scale ${scale})`));
  }
  tf.dispose([q, k, v, dy, bias]);
});

test('exact GELU on the native backend: forward bit-identical, gradient equals the tfjs path and autodiff of the textbook form', async (t) => {
  if (!native) return t.skip('tfjs-node with the fused kernels not available');
  const x = tf.linspace(-12, 12, 4001); // both tails, where 1 + erf underflows towards 0 or rounds to 2
  const dy = tf.tidy(() => tf.sin(x.mul(3)));
  const textbook = (v: tf.Tensor) => v.mul(tf.erf(v.mul(Math.SQRT1_2)).add(1)).mul(0.5);
  const fused = await expectNoTensorLeak(() => withFused(true, gelu, [x], dy));
  const plain = withFused(false, gelu, [x], dy);
  const ref = withFused(false, textbook, [x], dy);
  assert.deepEqual(fused[0], plain[0], 'forward bit-identical');
  expectClose(fused[1]!, plain[1]!, 1e-6, 'gradient vs the tfjs path');
  expectClose(fused[1]!, ref[1]!, 1e-6, 'gradient vs autodiff');
  setNativeFused(true);
  setNativeOps(false);
  try {
    await expectNoTensorLeak(() => {
      const v = randVar([3, 17], 12, 3);
      gradCheck(() => gelu(v), new Map([['x', v]]));
      v.dispose();
    });
  } finally {
    setNativeFused(undefined);
    setNativeOps(undefined);
  }
  tf.dispose([x, dy]);
});
