import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Mlp } from '../../../../models/layers/mlp';
import { Rng } from '../../../../models/training/rng';
import { expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randVar, scaleParams, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('Mlp has timm names and shapes; forward keeps the leading axes', async () => {
  const mlp = new Mlp({ dim: 4, hidden: 16, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...mlp.parameters()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['fc1.weight:16x4', 'fc1.bias:16', 'fc2.weight:4x16', 'fc2.bias:4'],
  );
  await expectNoTensorLeak(() => {
    const y = tf.tidy(() => mlp.forward(tf.ones([2, 3, 4])));
    assert.deepEqual(y.shape, [2, 3, 4]);
    y.dispose();
  });
  mlp.dispose();
});

test('Mlp gradients match finite differences', async () => {
  await expectNoTensorLeak(() => {
    const mlp = new Mlp({ dim: 3, hidden: 6, outDim: 2, act: 'gelu_tanh', rng: Rng.fromSeed(2) });
    // larger weights than the 0.02 init so the nonlinearity is exercised
    scaleParams(mlp.parameters(), 30);
    const x = randVar([2, 3], 5);
    gradCheck(() => mlp.forward(x), new Map([...mlp.parameters(), ['x', x]]));
    x.dispose();
    mlp.dispose();
  });
});
