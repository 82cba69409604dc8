/**
 * tfjs-core has no stopGradient, so the two gradient tricks of a VQ layer are written with tf.customGrad:
 *   stopGradient(x)        value x, gradient 0            (PyTorch x.detach())
 *   straightThrough(x, q)  value q, gradient to x only    (x + (q − x).detach())
 */
import * as tf from '@tensorflow/tfjs';

type Grad1 = (x: tf.Tensor) => tf.Tensor;
type Grad2 = (x: tf.Tensor, q: tf.Tensor) => tf.Tensor;

// customGrad passes the inputs followed by a save function; its typing is the union of both.
type Input = tf.Tensor | tf.GradSaveFunc;

export const stopGradient: Grad1 = tf.customGrad((...args: Input[]) => ({
  value: (args[0] as tf.Tensor).clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

export const straightThrough: Grad2 = tf.customGrad((...args: Input[]) => ({
  value: (args[1] as tf.Tensor).clone(),
  gradFunc: (dy: tf.Tensor) => [dy.clone(), tf.zerosLike(dy)],
}));
