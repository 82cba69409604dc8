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
