/**
 * The smoke discriminator: upstream-style names, shapes, deterministic init, finite gradients to both
 * the weights and the input (the generator's path), and that it actually trains — hinge loss falls on
 * a real-vs-fake toy task — on the native TensorFlow backend and on wasm (our training kernels).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { ConvDiscriminator } from '../../../models/conv-discriminator';
import { hingeDLoss } from '../../../models/training/gan-losses';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, randomValues } from '../../helpers/tensors';

test('names, shapes and deterministic init', async () => {
  await initBackend({ backend: 'cpu', log: null });
  const d = new ConvDiscriminator({ imageSize: 32, channels: 8, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...d.stateDict()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    [
      'main.0.weight:8x3x4x4',
      'main.0.bias:8',
      'main.2.weight:16x8x4x4',
      'main.2.bias:16',
      'main.4.weight:32x16x4x4',
      'main.4.bias:32',
      'main.6.weight:1x32x3x3',
      'main.6.bias:1',
    ],
  );
  assert.equal(d.numLogits, 16);
  const again = new ConvDiscriminator({ imageSize: 32, channels: 8, rng: Rng.fromSeed(1) });
  for (const [k, v] of d.stateDict()) assert.deepEqual(v.dataSync(), again.stateDict().get(k)!.dataSync(), k);
  const sn = new ConvDiscriminator({ imageSize: 16, channels: 4, layers: 1, spectralNorm: true, rng: Rng.fromSeed(2) });
  assert.deepEqual([...sn.trainableParameters().keys()], ['main.0.weight_orig', 'main.0.bias', 'main.2.weight_orig', 'main.2.bias']);
  assert.deepEqual(
    [...sn.stateDict().keys()].filter((k) => k.endsWith('_u')),
    ['main.0.weight_u', 'main.2.weight_u'],
  );
  assert.throws(() => new ConvDiscriminator({ imageSize: 20, layers: 3, rng: Rng.fromSeed(1) }), /divisible/);
  const x = tf.zeros([2, 3, 32, 32]);
  await expectNoTensorLeak(() => {
    const y = d.forward(x, { training: true, rng: Rng.fromSeed(0) });
    assert.deepEqual(y.shape, [2, 16]);
    y.dispose();
  });
  assert.throws(() => d.forward(tf.zeros([2, 32, 32, 3]), { training: false, rng: Rng.fromSeed(0) }), /expected shape/);
  tf.dispose(x);
  [d, again, sn].forEach((m) => m.dispose());
});

/** Real: smooth per-image gradients; fake: white noise. 40 Adam steps of the hinge D loss. */
async function trains(backend: string, spectralNorm: boolean): Promise<void> {
  await initBackend({ backend, log: null });
  const d = new ConvDiscriminator({ imageSize: 16, channels: 8, spectralNorm, rng: Rng.fromSeed(3) });
  const B = 8;
  const real = tf.tidy(() => {
    const ramp = tf.linspace(-0.8, 0.8, 16);
    const img = ramp
      .reshape([1, 1, 1, 16])
      .add(ramp.reshape([1, 1, 16, 1]))
      .mul(0.5); // [1, 1, 16, 16]
    return img.mul(tf.tensor4d(randomValues(B * 3, 4), [B, 3, 1, 1])); // -> [B, 3, 16, 16]
  });
  const fake = tf.tensor4d(randomValues(B * 3 * 16 * 16, 5, 0.8), [B, 3, 16, 16]);
  const vars = [...d.trainableParameters().values()];
  const opt = tf.train.adam(2e-3, 0.5, 0.9);
  const rng = Rng.fromSeed(6);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => hingeDLoss(d.forward(real, { training: true, rng }), d.forward(fake, { training: true, rng })), vars);
    for (const g of Object.values(grads)) assert.ok(g.dataSync().every(Number.isFinite));
    opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    tf.dispose(grads);
    const v = value.dataSync()[0]!;
    value.dispose();
    return v;
  };
  const first = step();
  const losses = await expectNoTensorLeak(() => Array.from({ length: 40 }, step), { label: `${backend} training` });
  const last = losses.slice(-5).reduce((a, b) => a + b, 0) / 5;
  assert.ok(last < 0.5 * first, `${backend}: hinge D loss ${first} → ${last}`);
  // the generator's path: a finite, non-zero gradient reaches the input
  const gx = tf.grad((x: tf.Tensor) => d.forward(x, { training: false, rng }).mean())(fake);
  const gd = gx.dataSync();
  assert.ok(gd.every(Number.isFinite) && gd.some((v) => v !== 0));
  tf.dispose([gx, real, fake]);
  opt.dispose();
  d.dispose();
}

test('trains on the native TensorFlow backend', () => trains('tensorflow', false));
test('trains on wasm (conv backprop through our training kernels), with spectral norm', () => trains('wasm', true));
