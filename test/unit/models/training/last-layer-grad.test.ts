/**
 * The last layer's gradient norm from its input features and ∂L/∂recon equals the one autograd gives
 * for the decoder's to_pixel weight, for an arbitrary loss (here ⟨recon, R⟩ with random R, so
 * ∂L/∂recon = R) and for the MSE the adaptive GAN weight uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { RobustokTokenizer } from '../../../../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../../../../models/tokenizer-config';
import { lastLayerGradNorm } from '../../../../models/training/last-layer-grad';
import { Rng } from '../../../../models/training/rng';
import { expectNoTensorLeak } from '../../../helpers/tensors';

const CFG = parseTokenizerConfig({
  image_size: 16,
  patch_size: 4,
  width: 32,
  depth: 1,
  num_heads: 2,
  codebook_size: 64,
  codebook_embed_dim: 8,
  num_latent_tokens: 16,
  drop_path_rate: 0,
});

test('lastLayerGradNorm equals autograd on the to_pixel weight', async () => {
  await tf.setBackend('cpu');
  const model = new RobustokTokenizer(CFG, Rng.fromSeed(3));
  const rng = Rng.fromSeed(9);
  const x = tf.tensor4d(
    Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => rng.uniform() * 2 - 1),
    [2, 3, 16, 16],
  );
  const R = tf.tensor4d(
    Float32Array.from({ length: 2 * 3 * 16 * 16 }, () => rng.uniform() - 0.5),
    [2, 3, 16, 16],
  );
  const W = model.lastLayer();
  const auto = (loss: (recon: tf.Tensor) => tf.Scalar) =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => loss(model.forward(x).recon), [W]);
      return (grads[W.name] as tf.Tensor).square().sum().sqrt().dataSync()[0] as number;
    });
  await expectNoTensorLeak(() => {
    const out = model.forward(x, { withDecoderFeatures: true });
    const features = out.decoderFeatures as tf.Tensor;
    const ours = lastLayerGradNorm(features, R, CFG.patch_size);
    const mse = tf.tidy(() => lastLayerGradNorm(features, out.recon.sub(x).mul(2 / out.recon.size), CFG.patch_size));
    const [a, b] = [ours.dataSync()[0] as number, mse.dataSync()[0] as number];
    const refA = auto((r) => r.mul(R).sum());
    const refB = auto((r) => r.sub(x).square().mean());
    assert.ok(Math.abs(a - refA) <= 1e-5 * refA, `⟨recon, R⟩: ${a} vs autograd ${refA}`);
    assert.ok(Math.abs(b - refB) <= 1e-5 * refB, `MSE: ${b} vs autograd ${refB}`);
    tf.dispose([out.recon, out.codes, out.latents, out.quant, out.codebookLoss, out.commitLoss, features, ours, mse]);
  });
  tf.dispose([x, R]);
  model.dispose();
});
