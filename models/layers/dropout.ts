/**
 * Inverted dropout (PyTorch nn.Dropout in training mode): zero each element with probability p and
 * scale the survivors by 1/(1 − p), so inference needs no rescaling.
 *
 * The mask comes from a stateless Philox uniform (philox-uniform.ts) seeded with one word drawn from our
 * stream: TensorFlow's kernel on the native backend (fast, and inside the deferred executor's graphs), the
 * same stream ported to JavaScript elsewhere, so it is identical on every backend, and the only state a
 * checkpoint must hold is the stream's position (one word per call), not a per-element draw. (Until
 * generator.train version 3 it was tf.randomUniform, filled one alea step per element in JavaScript:
 * ~100 ms of a RAR smoke step.)
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { nativeOpsBackend, nativeOpsStatus, type NativeOpAttr } from '../../compute/native-ops';
import { maskSeed, philoxUniform } from './philox-uniform';

/** Training-time dropout settings handed down a forward pass (absent ⇒ evaluation: no dropout). */
export interface DropoutCall {
  rng: Rng;
}

export function dropout(x: tf.Tensor, p: number, rng: Rng): tf.Tensor {
  if (!(p >= 0 && p < 1)) throw new PipelineError('CONFIG_INVALID', `dropout probability must be in [0, 1), got ${p}`);
  if (p === 0) return x.clone();
  return tf.tidy(() => x.mul(dropoutMask(x.shape, p, rng)));
}

/**
 * The multiplier dropout(x, p, rng) applies: 0 or 1/(1 − p) per element, drawing the same one word from
 * `rng`. For callers that fold the mask into a hand-written gradient (attention); p in (0, 1).
 */
export function dropoutMask(shape: number[], p: number, rng: Rng): tf.Tensor {
  if (!(p > 0 && p < 1)) throw new PipelineError('CONFIG_INVALID', `dropout mask probability must be in (0, 1), got ${p}`);
  const seed = maskSeed(rng.nextUint32());
  const size = shape.reduce((a, b) => a * b, 1);
  // the avx build's Philox is scalar, slower than TensorFlow's kernel: only the avx2 build's lanes win
  const ops = size > 0 && nativeOpsStatus()?.detail === 'avx2' ? nativeOpsBackend() : undefined;
  if (ops) {
    // our op library: the same mask from the same stream in one kernel (native/robustok-ops/dropout-mask.cc)
    const attrs: NativeOpAttr[] = [
      { name: 'shape', type: ops.binding.TF_ATTR_INT, value: shape },
      { name: 'p', type: ops.binding.TF_ATTR_FLOAT, value: p },
      { name: 'scale', type: ops.binding.TF_ATTR_FLOAT, value: 1 / (1 - p) },
    ];
    return tf.tidy(() => ops.executeSingleOutput('RobustokDropoutMask', attrs, [tf.tensor1d(seed, 'int32')]));
  }
  return tf.tidy(() =>
    philoxUniform(shape, seed)
      .greaterEqual(p)
      .cast('float32')
      .mul(1 / (1 - p)),
  );
}
