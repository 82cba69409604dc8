/**
 * ‖∂L/∂W‖ of the decoder's last layer (to_pixel, a Linear y = x·Wᵀ + b followed by unpatchify) from
 * its input features and ∂L/∂recon, without another decoder pass: ∂L/∂W = Σ_{b,n} g_{b,n} ⊗ x_{b,n},
 * where g = ∂L/∂y is ∂L/∂recon laid back into patches (unpatchify is a permutation, so its gradient is
 * the inverse permutation, patchifyPqc).
 *
 * This is what the adaptive GAN weight needs (dossier §2.5: the ratio of the reconstruction and
 * adversarial gradient norms at the last layer). Upstream gets both norms from autograd on the step's
 * own graph; recomputing the decoder for each norm cost two extra decoder passes with backward per
 * GAN step here, more than the step itself.
 */
import * as tf from '@tensorflow/tfjs';
import { assertShape } from '../layers/module';
import { patchifyPqc } from '../layers/unpatchify';

/**
 * features [B, N, W] (the to_pixel input), reconGrad [B, 3, H, W] (∂L/∂recon, channels-first) →
 * scalar ‖∂L/∂W‖_F for W [3·p·p, W].
 */
export function lastLayerGradNorm(features: tf.Tensor, reconGrad: tf.Tensor, patchSize: number): tf.Scalar {
  const [B, N, W] = features.shape as [number, number, number];
  assertShape(reconGrad, [B, 3, null, null], 'lastLayerGradNorm ∂L/∂recon');
  return tf.tidy(() => {
    const g = patchifyPqc(reconGrad.transpose([0, 2, 3, 1]), patchSize); // [B, 3, H, W] -> [B, H, W, 3] -> [B, N, p·p·3]
    const out = g.shape[2] as number;
    const dW = tf.matMul(g.reshape([B * N, out]), features.reshape([B * N, W]), true, false); // [B·N, 3pp]ᵀ x [B·N, W] -> [3pp, W]
    return dW.square().sum().sqrt() as tf.Scalar;
  });
}
