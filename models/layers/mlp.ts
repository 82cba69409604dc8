/**
 * timm Mlp: fc1 → activation → fc2 (names `fc1.*`, `fc2.*`, matching ViT and RAR state dicts).
 * Training may pass dropout: timm applies the same p after the activation and after fc2.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { activation, type ActivationName } from './activations';
import { dropout } from './dropout';
import { Linear } from './linear';
import { Module } from './module';

export interface MlpOptions {
  dim: number;
  /** Hidden width; ViT/RAR use 4·dim. */
  hidden: number;
  outDim?: number;
  /** Default 'gelu' (exact), as in timm and RAR. */
  act?: ActivationName;
  bias?: boolean;
  rng: Rng;
}

export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly act: ActivationName;

  constructor(o: MlpOptions) {
    super();
    this.act = o.act ?? 'gelu';
    this.fc1 = this.module('fc1', new Linear({ inFeatures: o.dim, outFeatures: o.hidden, bias: o.bias, rng: o.rng }));
    this.fc2 = this.module('fc2', new Linear({ inFeatures: o.hidden, outFeatures: o.outDim ?? o.dim, bias: o.bias, rng: o.rng }));
  }

  /** x: [..., dim] → [..., outDim]. `drop` (training only): dropout p after the activation and after fc2. */
  forward(x: tf.Tensor, drop?: { p: number; rng: Rng }): tf.Tensor {
    return tf.tidy(() => {
      let h = activation(this.act, this.fc1.forward(x));
      if (drop) h = dropout(h, drop.p, drop.rng);
      const y = this.fc2.forward(h);
      return drop ? dropout(y, drop.p, drop.rng) : y;
    });
  }
}
