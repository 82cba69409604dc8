import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { SpectralLinear } from '../../../../models/layers/spectral-norm';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randVar, setVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('SpectralLinear: PyTorch hook names (weight_orig + buffers weight_u, weight_v)', () => {
  const l = new SpectralLinear({ inFeatures: 3, outFeatures: 2, rng: Rng.fromSeed(1) });
  assert.deepEqual([...l.parameters().keys()], ['weight_orig', 'bias']);
  assert.deepEqual(
    [...l.stateDict()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['weight_orig:2x3', 'bias:2', 'weight_u:2', 'weight_v:3'],
  );
  assert.deepEqual([...l.trainableParameters().keys()], ['weight_orig', 'bias']);
  l.dispose();
});

test('power iteration converges to the largest singular value; W/σ has unit spectral norm', async () => {
  const l = new SpectralLinear({ inFeatures: 3, outFeatures: 3, rng: Rng.fromSeed(2) });
  // singular values 5, 2, 1 (diagonal after a sign flip)
  setVar(l.sn.weightOrig, [2, 0, 0, 0, -5, 0, 0, 0, 1]);
  await expectNoTensorLeak(() => {
    for (let i = 0; i < 30; i++) l.sn.updateVectors();
    const s = l.sn.sigma();
    expectClose(s.dataSync(), [5], 1e-4);
    const eye = tf.eye(3);
    const y = l.forward(eye); // rows = (W/σ)ᵀ applied to basis vectors, no bias (zeros)
    expectClose(Array.from(y.dataSync()).map(Math.abs), [0.4, 0, 0, 0, 1, 0, 0, 0, 0.2], 1e-4);
    tf.dispose([s, eye, y]);
  });
  l.dispose();
});

test('eval forward leaves u, v unchanged; training forward updates them', () => {
  const l = new SpectralLinear({ inFeatures: 4, outFeatures: 3, rng: Rng.fromSeed(3) });
  const u0 = l.sn.u.dataSync().slice();
  const x = tf.ones([1, 4]);
  tf.dispose(l.forward(x));
  assert.deepEqual(l.sn.u.dataSync(), u0);
  tf.dispose(l.forward(x, { training: true }));
  assert.notDeepEqual(l.sn.u.dataSync(), u0);
  x.dispose();
  l.dispose();
});

test('SpectralLinear gradients (through W and σ(W)) match finite differences', async () => {
  await expectNoTensorLeak(() => {
    const l = new SpectralLinear({ inFeatures: 3, outFeatures: 2, weightInit: { kind: 'normal', std: 1 }, rng: Rng.fromSeed(4) });
    for (let i = 0; i < 5; i++) l.sn.updateVectors();
    const x = randVar([2, 3], 5);
    gradCheck(() => l.forward(x), new Map([...l.parameters(), ['x', x]]), { eps: 3e-3 });
    x.dispose();
    l.dispose();
  });
});
