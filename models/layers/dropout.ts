/**
 * Inverted dropout (PyTorch nn.Dropout in training mode): zero each element with probability p and
 * scale the survivors by 1/(1 − p), so inference needs no rescaling.
 *
 * The mask comes from tf.randomUniform seeded with one word drawn from our Philox stream: tfjs fills it
 * in JS (alea), so it is identical on every backend, and the only state a checkpoint must hold is the
 * stream's position (one word per call), not a per-element draw.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';

/** Training-time dropout settings handed down a forward pass (absent ⇒ evaluation: no dropout). */
export interface DropoutCall {
  rng: Rng;
}

export function dropout(x: tf.Tensor, p: number, rng: Rng): tf.Tensor {
  if (!(p >= 0 && p < 1)) throw new PipelineError('CONFIG_INVALID', `dropout probability must be in [0, 1), got ${p}`);
  if (p === 0) return x.clone();
  const seed = rng.nextUint32();
  return tf.tidy(() => {
    const keep = tf.randomUniform(x.shape, 0, 1, 'float32', seed).greaterEqual(p).cast('float32');
    return x.mul(keep.mul(1 / (1 - p)));
  });
}
