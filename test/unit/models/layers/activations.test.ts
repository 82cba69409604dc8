import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { activation, gelu, geluTanh, silu } from '../../../../models/layers/activations';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

// Reference values from the definitions (Φ(1) = 0.8413447460685429).
test('exact and tanh GELU at known points', async () => {
  await expectNoTensorLeak(() => {
    const x = tf.tensor1d([-1, 0, 1, 3]);
    const e = gelu(x);
    const t = geluTanh(x);
    const s = silu(x);
    expectClose(e.dataSync(), [-0.15865525393145707, 0, 0.8413447460685429, 2.995950669], 1e-5, 'gelu');
    const tanhRef = [-1, 0, 1, 3].map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
    expectClose(t.dataSync(), tanhRef, 1e-5, 'gelu_tanh');
    expectClose(
      s.dataSync(),
      [-1, 0, 1, 3].map((v) => v / (1 + Math.exp(-v))),
      1e-5,
      'silu',
    );
    tf.dispose([x, e, t, s]);
  });
});

test('activation gradients match finite differences', async () => {
  await expectNoTensorLeak(() => {
    for (const name of ['gelu', 'gelu_tanh', 'silu'] as const) {
      const x = randVar([3, 4], 9, 2);
      gradCheck(() => activation(name, x), new Map([[name, x]]));
      x.dispose();
    }
  });
});

test('exact GELU: forward bit-identical to ½·x·(1 + erf(x/√2)), hand-written gradient equals autodiff through it', async () => {
  const x = tf.linspace(-12, 12, 4001); // both tails, where 1 + erf underflows towards 0 or rounds to 2
  const dy = tf.sin(x.mul(3)); // any smooth upstream gradient
  const textbook = (t: tf.Tensor) => t.mul(tf.erf(t.mul(Math.SQRT1_2)).add(1)).mul(0.5);
  await expectNoTensorLeak(() => {
    const [ours, ref] = tf.tidy(() => [gelu(x), textbook(x)]);
    assert.deepEqual(ours.dataSync(), ref.dataSync());
    const g = tf.grad((t: tf.Tensor) => gelu(t).mul(dy).sum())(x);
    const gRef = tf.grad((t: tf.Tensor) => textbook(t).mul(dy).sum())(x);
    expectClose(g.dataSync(), gRef.dataSync(), 1e-6);
    tf.dispose([ours, ref, g, gRef]);
  });
  tf.dispose([x, dy]);
});
