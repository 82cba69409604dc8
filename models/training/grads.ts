/**
 * Named gradients: tf.variableGrads keys its result by tfjs' internal variable names; training code
 * wants the state-dict names the optimizer, the clipper and the checkpoints share.
 */
import * as tf from '@tensorflow/tfjs';

export interface NamedGrads {
  loss: tf.Scalar;
  /** Gradient per parameter name; parameters the loss does not reach get no entry. */
  grads: Map<string, tf.Tensor>;
}

/** Value and gradients of `lossFn` w.r.t. the trainable entries of `params`. Dispose both when done. */
export function namedGrads(lossFn: () => tf.Scalar, params: Map<string, tf.Variable>): NamedGrads {
  const trainable = [...params].filter(([, v]) => v.trainable);
  const { value, grads } = tf.variableGrads(
    lossFn,
    trainable.map(([, v]) => v),
  );
  const out = new Map<string, tf.Tensor>();
  for (const [name, v] of trainable) {
    const g = grads[v.name];
    if (g) out.set(name, g);
  }
  return { loss: value, grads: out };
}

export function disposeGrads(grads: Map<string, tf.Tensor>): void {
  for (const g of grads.values()) g.dispose();
}
