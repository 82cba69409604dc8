/**
 * Drop-path (stochastic depth, timm `DropPath`): in training, each sample's residual branch is zeroed
 * with probability `rate` and the survivors are scaled by 1/(1 − rate), so evaluation is the identity.
 *
 * One uniform draw per sample from our Philox stream decides it (kept iff u < 1 − rate), so a resumed
 * run with the restored stream drops the same samples.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';

/** x: [B, ...] → same shape. `rate` 0 returns a copy and draws nothing. */
export function dropPath(x: tf.Tensor, rate: number, rng: Rng): tf.Tensor {
  if (!(rate >= 0 && rate < 1)) throw new PipelineError('CONFIG_INVALID', `drop-path rate must be in [0, 1), got ${rate}`);
  if (rate === 0) return x.clone();
  const B = x.shape[0];
  return scaleSamples(x, dropPathScale(B, rate, rng));
}

/** x [B, ...] times one multiplier per sample (`scale`, B values), as dropPath applies them. */
export function scaleSamples(x: tf.Tensor, scale: Float32Array): tf.Tensor {
  return tf.tidy(() => x.mul(tf.tensor(scale, [x.shape[0], ...x.shape.slice(1).map(() => 1)]))); // [B] -> [B, 1, …] broadcast
}

/** The per-sample multipliers dropPath applies (1/(1 − rate) kept, 0 dropped): B draws, in sample order. */
export function dropPathScale(B: number, rate: number, rng: Rng): Float32Array {
  if (!(rate >= 0 && rate < 1)) throw new PipelineError('CONFIG_INVALID', `drop-path rate must be in [0, 1), got ${rate}`);
  const keep = 1 - rate;
  const scale = new Float32Array(B);
  for (let b = 0; b < B; b++) scale[b] = rng.uniform() < keep ? 1 / keep : 0;
  return scale;
}

/** Per-block rates rising linearly from 0 to `rate` (timm's torch.linspace(0, rate, depth)). */
export function dropPathRates(rate: number, depth: number): number[] {
  return Array.from({ length: depth }, (_, i) => (depth === 1 ? 0 : (rate * i) / (depth - 1)));
}
