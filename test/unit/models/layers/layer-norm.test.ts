import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { LayerNorm } from '../../../../models/layers/layer-norm';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { gradCheck, randVar, setVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('LayerNorm matches the closed form (biased variance, eps inside the sqrt)', async () => {
  const ln = new LayerNorm({ dim: 4, eps: 1e-6 });
  setVar(ln.weight!, [1, 2, 3, 4]);
  setVar(ln.bias!, [0, 1, 0, -1]);
  const xs = [1, 2, 3, 6];
  const mean = 3;
  const variance = (4 + 1 + 0 + 9) / 4;
  const expected = xs.map((x, i) => ((x - mean) / Math.sqrt(variance + 1e-6)) * (i + 1) + [0, 1, 0, -1][i]!);
  await expectNoTensorLeak(() => {
    const y = tf.tidy(() => ln.forward(tf.tensor2d([xs])));
    expectClose(y.dataSync(), expected, 1e-5);
    y.dispose();
  });
  ln.dispose();
});

test('LayerNorm without affine has no parameters and gives zero mean, unit variance', () => {
  const ln = new LayerNorm({ dim: 8, affine: false });
  assert.equal(ln.parameters().size, 0);
  const y = tf.tidy(() => ln.forward(tf.tensor(randomValues(24, 3, 5), [3, 8])));
  const { mean, variance } = tf.moments(y, -1);
  assert.ok(Array.from(mean.dataSync()).every((m) => Math.abs(m) < 1e-5));
  expectClose(variance.dataSync(), [1, 1, 1], 1e-3);
  tf.dispose([y, mean, variance]);
});

test('LayerNorm rejects a wrong width and passes the gradient check', async () => {
  const ln = new LayerNorm({ dim: 5, eps: 1e-6 });
  const bad = tf.zeros([2, 4]);
  assert.throws(() => ln.forward(bad), { code: 'TENSOR_SHAPE' });
  bad.dispose();
  await expectNoTensorLeak(() => {
    const x = randVar([2, 3, 5], 4);
    setVar(ln.weight!, [0.5, 1, 1.5, 2, -1]);
    gradCheck(() => ln.forward(x), new Map([...ln.parameters(), ['x', x]]));
    x.dispose();
  });
  ln.dispose();
});

test('LayerNorm without affine: its hand-written gradient equals autodiff through the textbook form', async () => {
  const ln = new LayerNorm({ dim: 6, eps: 1e-6, affine: false });
  const x = tf.tensor(randomValues(36, 7), [3, 2, 6]);
  const dy = tf.tensor(randomValues(36, 9), [3, 2, 6]);
  await expectNoTensorLeak(() => {
    const ours = tf.grad((xx: tf.Tensor) => ln.forward(xx).mul(dy).sum())(x);
    const textbook = tf.grad((xx: tf.Tensor) => {
      const { mean, variance } = tf.moments(xx, -1, true);
      return xx
        .sub(mean)
        .mul(tf.rsqrt(variance.add(1e-6)))
        .mul(dy)
        .sum();
    })(x);
    expectClose(ours.dataSync(), textbook.dataSync(), 1e-5);
    tf.dispose([ours, textbook]);
  });
  tf.dispose([x, dy]);
  ln.dispose();
});

test('LayerNorm gradients equal autodiff through the textbook form (3-D input, weight and bias)', () => {
  const ln = new LayerNorm({ dim: 8, eps: 1e-6 });
  setVar(ln.weight!, Array.from(randomValues(8, 11, 2)));
  setVar(ln.bias!, Array.from(randomValues(8, 12, 1)));
  const x = tf.tensor(randomValues(2 * 3 * 8, 13, 3), [2, 3, 8]);
  const dy = tf.tensor(randomValues(2 * 3 * 8, 14, 1), [2, 3, 8]);
  const textbook = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x
      .sub(mean)
      .mul(tf.rsqrt(variance.add(1e-6)))
      .mul(w)
      .add(b);
  };
  const [gx, gw, gb] = tf.grads((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => textbook(x, w, b).mul(dy).sum())([x, ln.weight!, ln.bias!]);
  const { grads } = tf.variableGrads(() => ln.forward(x).mul(dy).sum(), [ln.weight!, ln.bias!]);
  const gxOurs = tf.grad((xx: tf.Tensor) => ln.forward(xx).mul(dy).sum())(x);
  expectClose(gxOurs.dataSync(), gx!.dataSync(), 1e-5);
  expectClose(grads[ln.weight!.name]!.dataSync(), gw!.dataSync(), 1e-5);
  expectClose(grads[ln.bias!.name]!.dataSync(), gb!.dataSync(), 1e-5);
  tf.dispose([x, dy, gx!, gw!, gb!, gxOurs, ...Object.values(grads)]);
  ln.dispose();
});
