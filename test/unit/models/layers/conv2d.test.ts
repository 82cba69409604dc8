import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Conv2d } from '../../../../models/layers/conv2d';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { gradCheck, randVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

/** Direct PyTorch-semantics conv: x NCHW, w [out, in, k, k]. */
function naive(
  x: Float32Array,
  [B, C, H, W]: number[],
  w: Float32Array,
  b: Float32Array,
  O: number,
  k: number,
  s: number,
  p: number,
): { y: Float32Array; oh: number; ow: number } {
  const oh = Math.floor((H! + 2 * p - k) / s) + 1;
  const ow = Math.floor((W! + 2 * p - k) / s) + 1;
  const y = new Float32Array(B! * O * oh * ow);
  for (let n = 0; n < B!; n++)
    for (let o = 0; o < O; o++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let acc = b[o]!;
          for (let c = 0; c < C!; c++)
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) {
                const [r, q] = [i * s + u - p, j * s + v - p];
                if (r < 0 || r >= H! || q < 0 || q >= W!) continue;
                acc += x[((n * C! + c) * H! + r) * W! + q]! * w[((o * C! + c) * k + u) * k + v]!;
              }
          y[((n * O + o) * oh + i) * ow + j] = acc;
        }
  return { y, oh, ow };
}

test('Conv2d matches a direct PyTorch-layout convolution (stride 2, padding 1)', async () => {
  const conv = new Conv2d({
    inChannels: 3,
    outChannels: 4,
    kernelSize: 4,
    stride: 2,
    padding: 1,
    weightInit: { kind: 'normal', std: 0.5 },
    rng: Rng.fromSeed(1),
  });
  conv.bias!.assign(tf.tensor1d([0.1, -0.2, 0.3, 0]));
  assert.deepEqual(
    [...conv.stateDict()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['weight:4x3x4x4', 'bias:4'],
  );
  const xv = randomValues(2 * 3 * 8 * 8, 2);
  await expectNoTensorLeak(() => {
    const x = tf.tensor4d(xv, [2, 3, 8, 8]);
    const y = tf.tidy(() => conv.forward(x.transpose([0, 2, 3, 1])).transpose([0, 3, 1, 2]));
    const ref = naive(xv, [2, 3, 8, 8], conv.weight.dataSync() as Float32Array, conv.bias!.dataSync() as Float32Array, 4, 4, 2, 1);
    assert.deepEqual(y.shape, [2, 4, ref.oh, ref.ow]);
    expectClose(y.dataSync(), ref.y, 1e-5);
    tf.dispose([x, y]);
  });
  conv.dispose();
});

test('Conv2d 3×3 stride 1 padding 1 (computed with "same" padding) matches the direct convolution', async () => {
  const conv = new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, weightInit: { kind: 'normal', std: 0.5 }, rng: Rng.fromSeed(5) });
  const xv = randomValues(2 * 2 * 5 * 6, 6);
  await expectNoTensorLeak(() => {
    const x = tf.tensor4d(xv, [2, 2, 5, 6]);
    const y = tf.tidy(() => conv.forward(x.transpose([0, 2, 3, 1])).transpose([0, 3, 1, 2]));
    const ref = naive(xv, [2, 2, 5, 6], conv.weight.dataSync() as Float32Array, conv.bias!.dataSync() as Float32Array, 3, 3, 1, 1);
    assert.deepEqual(y.shape, [2, 3, 5, 6]);
    expectClose(y.dataSync(), ref.y, 1e-5);
    tf.dispose([x, y]);
  });
  conv.dispose();
});

test('Conv2d gradients match finite differences', async () => {
  await expectNoTensorLeak(() => {
    const conv = new Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1, weightInit: { kind: 'normal', std: 0.5 }, rng: Rng.fromSeed(3) });
    const x = randVar([1, 5, 5, 2], 4);
    gradCheck(() => conv.forward(x), new Map([...conv.parameters(), ['x', x]]), { eps: 3e-3 });
    x.dispose();
    conv.dispose();
  });
});
