/**
 * Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_): with N = ‖(g₁, …, gₙ)‖₂ over all
 * gradients, scale every gradient by min(1, maxNorm / (N + 1e-6)). RAR clips at 1.0.
 * The norm stays on the device (a Scalar) so clipping needs no GPU→CPU sync; read it when logging.
 */
import * as tf from '@tensorflow/tfjs';

export interface Clipped {
  /** New gradient tensors (the inputs are not disposed). */
  grads: Map<string, tf.Tensor>;
  /** The global norm before clipping. */
  norm: tf.Scalar;
}

export function globalNorm(grads: Map<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => {
    const sq = [...grads.values()].map((g) => g.square().sum<tf.Scalar>());
    return (sq.length === 0 ? tf.scalar(0) : tf.addN(sq)).sqrt();
  });
}

export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): Clipped {
  const norm = globalNorm(grads);
  const out = new Map<string, tf.Tensor>();
  tf.tidy(() => {
    const coef = tf.minimum(tf.scalar(1), tf.scalar(maxNorm).div(norm.add(1e-6)));
    for (const [n, g] of grads) out.set(n, tf.keep(g.mul(coef)));
  });
  return { grads: out, norm };
}
