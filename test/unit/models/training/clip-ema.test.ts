import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { clipByGlobalNorm } from '../../../../models/training/clip';
import { Ema } from '../../../../models/training/ema';
import { namedGrads } from '../../../../models/training/grads';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { useCpuBackend } from '../layers/gradcheck';

before(useCpuBackend);

test('global-norm clipping: ‖(3, 4, 12)‖ = 13 is scaled to maxNorm; below the limit nothing changes', async () => {
  await expectNoTensorLeak(() => {
    const g = new Map<string, tf.Tensor>([
      ['a', tf.tensor1d([3, 4])],
      ['b', tf.tensor2d([[12]])],
    ]);
    const c = clipByGlobalNorm(g, 1);
    expectClose(c.norm.dataSync(), [13], 1e-6);
    expectClose(c.grads.get('a')!.dataSync(), [3 / 13, 4 / 13], 1e-5);
    expectClose(c.grads.get('b')!.dataSync(), [12 / 13], 1e-5);
    const loose = clipByGlobalNorm(g, 100);
    expectClose(loose.grads.get('a')!.dataSync(), [3, 4], 1e-7);
    tf.dispose([...g.values(), ...c.grads.values(), c.norm, ...loose.grads.values(), loose.norm]);
  });
});

test('EMA: ema ← d·ema + (1 − d)·θ, save/restore, copy into an eval model', async () => {
  const p = tf.variable(tf.scalar(2));
  const ema = new Ema(new Map([['w', p]]), 0.9);
  await expectNoTensorLeak(() => {
    const four = tf.scalar(4);
    p.assign(four);
    four.dispose();
    ema.update(); // 0.9·2 + 0.1·4
    expectClose(ema.tensors().get('w')!.dataSync(), [2.2], 1e-6);
    ema.update(); // 0.9·2.2 + 0.1·4
    expectClose(ema.tensors().get('w')!.dataSync(), [2.38], 1e-6);
  });
  const evalW = tf.variable(tf.scalar(0));
  ema.copyTo(new Map([['w', evalW]]));
  expectClose(evalW.dataSync(), [2.38], 1e-6);
  const restored = new Ema(new Map([['w', p]]), 0.9);
  restored.load(new Map([['w', ema.tensors().get('w')!]]));
  ema.update();
  restored.update();
  assert.deepEqual(restored.tensors().get('w')!.dataSync(), ema.tensors().get('w')!.dataSync());
  assert.throws(() => restored.load(new Map([['v', p]])), { code: 'CHECKPOINT_MISMATCH' });
  assert.throws(() => new Ema(new Map(), 1.5), { code: 'CONFIG_INVALID' });
  [ema, restored].forEach((e) => e.dispose());
  tf.dispose([p, evalW]);
});

test('namedGrads returns gradients under state-dict names and skips frozen parameters', () => {
  const a = tf.variable(tf.tensor1d([1, 2]));
  const b = tf.variable(tf.tensor1d([3]), false);
  const { loss, grads } = namedGrads(
    () => a.square().sum().add<tf.Scalar>(b.sum()),
    new Map([
      ['a', a],
      ['b', b],
    ]),
  );
  expectClose(loss.dataSync(), [8], 1e-6);
  assert.deepEqual([...grads.keys()], ['a']);
  expectClose(grads.get('a')!.dataSync(), [2, 4], 1e-6);
  tf.dispose([loss, ...grads.values(), a, b]);
});
