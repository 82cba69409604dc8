/** LayerScale (CaiT; timm `ls1.gamma`): a learned per-channel multiplier on a residual branch. DINOv2 uses it with init 1e-5. */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';

export class LayerScale extends Module {
  readonly gamma: tf.Variable; // [dim]
  constructor(dim: number, initValue = 1e-5) {
    super();
    this.gamma = this.param('gamma', tf.fill([dim], initValue));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => x.mul(this.gamma));
  }
}
