/**
 * Broadcasting a learned token to a batch. tfjs implements `broadcastTo` with the Tile kernel, whose
 * gradient is a loop of one slice + add per tile: broadcasting a [1, 1, W] mask token to [B, N, W]
 * costs B·N slices in every backward pass (2048 at smoke size, most of the decoder's backward time).
 * `expandTo` has the same forward value, and its gradient is one sum over the broadcast axes.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';

/** x broadcast to `shape` (same rank; each axis of x is 1 or equal), with a sum-reduction gradient. */
export function expandTo(x: tf.Tensor, shape: readonly number[]): tf.Tensor {
  if (x.rank !== shape.length || x.shape.some((d, i) => d !== 1 && d !== shape[i])) {
    throw new PipelineError('TENSOR_SHAPE', `expandTo: cannot broadcast [${x.shape.join(', ')}] to [${shape.join(', ')}]`);
  }
  const axes = x.shape.flatMap((d, i) => (d === 1 && shape[i] !== 1 ? [i] : []));
  if (axes.length === 0) return x.clone();
  const f: (t: tf.Tensor) => tf.Tensor = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: tf.broadcastTo(args[0] as tf.Tensor, [...shape]),
    gradFunc: (dy: tf.Tensor) => dy.sum(axes, true),
  }));
  return f(x);
}
