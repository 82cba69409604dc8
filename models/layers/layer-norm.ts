/**
 * LayerNorm over the last axis (PyTorch nn.LayerNorm with a 1-D normalized_shape): biased variance,
 * eps inside the square root. `affine: false` has no parameters (RAR's FinalLayer norm).
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { PipelineError } from '../../core/errors';

export interface LayerNormOptions {
  dim: number;
  /** PyTorch's default is 1e-5; timm ViTs and RAR pass 1e-6. */
  eps?: number;
  /** Learnable weight (init 1) and bias (init 0). Default true. */
  affine?: boolean;
}

export class LayerNorm extends Module {
  readonly weight: tf.Variable | undefined;
  readonly bias: tf.Variable | undefined;
  readonly eps: number;
  readonly dim: number;

  constructor(o: LayerNormOptions) {
    super();
    this.dim = o.dim;
    this.eps = o.eps ?? 1e-5;
    if (o.affine !== false) {
      this.weight = this.param('weight', tf.ones([o.dim]));
      this.bias = this.param('bias', tf.zeros([o.dim]));
    }
  }

  /** x: [..., dim] → same shape. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.shape[x.rank - 1] !== this.dim) throw new PipelineError('TENSOR_SHAPE', `LayerNorm(${this.dim}): input last dim is ${x.shape[x.rank - 1]}`);
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true); // [..., 1]
      let y = x.sub(mean).mul(tf.rsqrt(variance.add(this.eps)));
      if (this.weight && this.bias) y = y.mul(this.weight).add(this.bias);
      return y;
    });
  }
}
