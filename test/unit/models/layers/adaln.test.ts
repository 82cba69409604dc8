import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { AdaLNModulation, gatedResidual, modulate } from '../../../../models/layers/adaln';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randn, randVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('adaLN-zero: Sequential names (1.weight), zero chunks, identity modulation', async () => {
  const ada = new AdaLNModulation({ condDim: 3, dim: 4, chunks: 6, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...ada.parameters()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['1.weight:24x3', '1.bias:24'],
  );
  await expectNoTensorLeak(() => {
    const c = randn([2, 3], 2);
    const x = randn([2, 5, 4], 3);
    const chunks = ada.forward(c);
    assert.equal(chunks.length, 6);
    chunks.forEach((t) => assert.deepEqual(t.shape, [2, 4]));
    const [shift, scale, gate] = chunks as [tf.Tensor, tf.Tensor, tf.Tensor];
    const y = modulate(x, shift, scale);
    const r = gatedResidual(x, gate, y);
    expectClose(y.dataSync(), x.dataSync(), 1e-7);
    expectClose(r.dataSync(), x.dataSync(), 1e-7);
    tf.dispose([c, x, y, r, ...chunks]);
  });
  ada.dispose();
});

test('modulate and gatedResidual closed forms, per-sample and per-position conditions', () => {
  const x = tf.tensor3d([
    [
      [1, 2],
      [3, 4],
    ],
  ]); // [1, 2, 2]
  const y1 = modulate(x, tf.tensor2d([[10, 20]]), tf.tensor2d([[1, -1]])); // per sample
  expectClose(y1.dataSync(), [1 * 2 + 10, 0 + 20, 3 * 2 + 10, 0 + 20]);
  const y2 = modulate(
    x,
    tf.tensor3d([
      [
        [0, 0],
        [1, 1],
      ],
    ]),
    tf.tensor3d([
      [
        [0, 0],
        [1, 1],
      ],
    ]),
  ); // per position
  expectClose(y2.dataSync(), [1, 2, 7, 9]);
  const r = gatedResidual(x, tf.tensor2d([[0.5, 2]]), tf.ones([1, 2, 2]));
  expectClose(r.dataSync(), [1.5, 4, 3.5, 6]);
  tf.dispose([x, y1, y2, r]);
});

test('adaLN gradients match finite differences', async () => {
  await expectNoTensorLeak(() => {
    const ada = new AdaLNModulation({ condDim: 3, dim: 2, chunks: 2, init: { kind: 'normal', std: 0.5 }, rng: Rng.fromSeed(2) });
    const c = randVar([2, 3], 4);
    const x = randVar([2, 3, 2], 5);
    gradCheck(
      () =>
        tf.tidy(() => {
          const [scale, shift] = ada.forward(c) as [tf.Tensor, tf.Tensor];
          return modulate(x, shift, scale);
        }),
      new Map([...ada.parameters(), ['c', c], ['x', x]]),
    );
    tf.dispose([c, x]);
    ada.dispose();
  });
});
