import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adaptiveWeight, discWeight, hingeDLoss, hingeGLoss, LeCam } from '../../../../models/training/gan-losses';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { useCpuBackend } from '../layers/gradcheck';

before(useCpuBackend);

test('hinge losses on hand-computed values', async () => {
  await expectNoTensorLeak(() => {
    const real = tf.tensor2d([
      [2, 0.5],
      [-1, 1],
    ]); // relu(1 − r) = 0, .5, 2, 0 → mean .625
    const fake = tf.tensor2d([
      [-2, 0],
      [0.5, -0.5],
    ]); // relu(1 + f) = 0, 1, 1.5, .5 → mean .75
    const d = hingeDLoss(real, fake);
    const g = hingeGLoss(fake); // −mean(f) = −(−2 + 0 + .5 − .5)/4 = .5
    expectClose(d.dataSync(), [0.5 * (0.625 + 0.75)], 1e-6);
    expectClose(g.dataSync(), [0.5], 1e-6);
    tf.dispose([real, fake, d, g]);
  });
});

test('LeCAM: EMAs start at 0, update with decay, regulariser formula; state round-trips', async () => {
  const l = new LeCam(0.9);
  assert.deepEqual(l.getState(), { realEma: 0, fakeEma: 0, decay: 0.9 });
  const real = tf.tensor1d([1, 3]); // mean 2
  const fake = tf.tensor1d([-2, 0]); // mean −1
  l.update(real, fake);
  const s = l.getState();
  assert.ok(Math.abs(s.realEma - 0.2) < 1e-12 && Math.abs(s.fakeEma + 0.1) < 1e-12);
  l.update(2, -1);
  expectClose([l.getState().realEma, l.getState().fakeEma], [0.9 * 0.2 + 0.2, 0.9 * -0.1 - 0.1], 1e-12);
  await expectNoTensorLeak(() => {
    const { realEma: er, fakeEma: ef } = l.getState(); // 0.38, −0.19
    const reg = l.loss(real, fake);
    const want = ((1 - ef) ** 2 + (3 - ef) ** 2) / 2 + ((er + 2) ** 2 + (er - 0) ** 2) / 2;
    expectClose(reg.dataSync(), [want], 1e-6);
    reg.dispose();
  });
  const other = new LeCam(0.9);
  other.setState(l.getState());
  assert.deepEqual(other.getState(), l.getState());
  assert.throws(() => new LeCam(0.5).setState(l.getState()), /decay/);
  tf.dispose([real, fake]);
});

test('adaptive weight: ratio with eps, clamped to [0, max]; numbers and scalars', async () => {
  assert.equal(adaptiveWeight(2, 1), 2 / (1 + 1e-4));
  assert.equal(adaptiveWeight(1, 0), 1e4);
  assert.equal(adaptiveWeight(1, 0, { max: 50 }), 50);
  assert.equal(adaptiveWeight(3, 1, { eps: 0 }), 3);
  await expectNoTensorLeak(() => {
    const r = tf.scalar(2);
    const w = adaptiveWeight(r, 4);
    expectClose(w.dataSync(), [2 / (4 + 1e-4)], 1e-6);
    tf.dispose([r, w]);
  });
});

test('discriminator weight gate', () => {
  assert.equal(discWeight(99, 100), 0);
  assert.equal(discWeight(100, 100), 0.5);
  assert.equal(discWeight(5, 0, 1), 1);
});
