/**
 * timm Mlp: fc1 → activation → fc2 (names `fc1.*`, `fc2.*`, matching ViT and RAR state dicts).
 * Dropout is omitted: the smoke configs train without it and inference never uses it.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { activation, type ActivationName } from './activations';
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

  /** x: [..., dim] → [..., outDim]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.fc2.forward(activation(this.act, this.fc1.forward(x))));
  }
}
