import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../../../../models/layers/linear';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randVar, setVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('Linear keeps the PyTorch [out, in] weight layout and computes x Wᵀ + b', async () => {
  const lin = new Linear({ inFeatures: 3, outFeatures: 2, rng: Rng.fromSeed(1) });
  assert.deepEqual([...lin.parameters().keys()], ['weight', 'bias']);
  assert.deepEqual(lin.weight.shape, [2, 3]);
  setVar(lin.weight, [1, 2, 3, 4, 5, 6]);
  setVar(lin.bias!, [0.5, -1]);
  await expectNoTensorLeak(() => {
    const y = tf.tidy(() =>
      lin.forward(
        tf.tensor3d([
          [
            [1, 0, -1],
            [2, 1, 0],
          ],
        ]),
      ),
    ); // [1, 2, 3]
    assert.deepEqual(y.shape, [1, 2, 2]);
    expectClose(y.dataSync(), [1 - 3 + 0.5, 4 - 6 - 1, 2 + 2 + 0.5, 8 + 5 - 1]);
    y.dispose();
  });
  lin.dispose();
});

test('Linear without bias has only a weight; wrong input width is TENSOR_SHAPE', () => {
  const lin = new Linear({ inFeatures: 4, outFeatures: 2, bias: false, rng: Rng.fromSeed(2) });
  assert.deepEqual([...lin.parameters().keys()], ['weight']);
  const x = tf.zeros([2, 3]);
  assert.throws(() => lin.forward(x), { code: 'TENSOR_SHAPE' });
  x.dispose();
  lin.dispose();
});

test('Linear gradients match finite differences (weight, bias and input)', async () => {
  await expectNoTensorLeak(() => {
    const lin = new Linear({ inFeatures: 4, outFeatures: 3, rng: Rng.fromSeed(3) });
    const x = randVar([2, 5, 4], 11);
    gradCheck(() => lin.forward(x), new Map([...lin.parameters(), ['x', x]]));
    x.dispose();
    lin.dispose();
  });
});

test('same seed, same init; different seed, different init', () => {
  const a = new Linear({ inFeatures: 8, outFeatures: 8, rng: Rng.fromSeed(5) });
  const b = new Linear({ inFeatures: 8, outFeatures: 8, rng: Rng.fromSeed(5) });
  const c = new Linear({ inFeatures: 8, outFeatures: 8, rng: Rng.fromSeed(6) });
  assert.deepEqual(a.weight.dataSync(), b.weight.dataSync());
  assert.notDeepEqual(a.weight.dataSync(), c.weight.dataSync());
  // trunc-normal(0.02) as PyTorch's: bounded at ±2 absolute, so in effect N(0, 0.02²); some of the
  // 64 entries lie beyond 2σ (an init cut at ±2σ, the old bug, has none)
  const w = Array.from(a.weight.dataSync());
  assert.ok(w.every((x) => Math.abs(x) < 0.2));
  assert.ok(
    w.some((x) => Math.abs(x) > 0.04),
    `no entry beyond 2σ: ${Math.max(...w.map(Math.abs))}`,
  );
  [a, b, c].forEach((m) => m.dispose());
});
