/**
 * Pre-norm transformer block (timm ViT `Block`): x += ls1(attn(norm1(x))); x += ls2(mlp(norm2(x))).
 * Names: norm1, attn.{qkv,proj}, ls1.gamma (when layerScale is set), norm2, mlp.{fc1,fc2}, ls2.gamma.
 * Drop-path (stochastic depth) applies to both residual branches when the call passes it (training only).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import type { ActivationName } from './activations';
import { Attention, type AttentionCall } from './attention';
import { dropPathScale } from './drop-path';
import { LayerNorm } from './layer-norm';
import { LayerScale } from './layer-scale';
import { Mlp } from './mlp';
import { residualBranch } from './residual-branch';
import { Module } from './module';

export interface VitBlockOptions {
  dim: number;
  numHeads: number;
  /** Default 4. */
  mlpRatio?: number;
  qkvBias?: boolean;
  qkNorm?: boolean;
  /** LayerNorm eps; 1e-6 in timm ViTs. */
  eps?: number;
  /** LayerScale init value (DINOv2: 1e-5); undefined = no LayerScale. */
  layerScale?: number;
  act?: ActivationName;
  rng: Rng;
}

export interface VitBlockCall extends AttentionCall {
  /** Training only: drop each sample's attention and MLP branch with probability `rate` (timm DropPath). */
  dropPath?: { rate: number; rng: Rng };
}

export class VitBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly ls1: LayerScale | undefined;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly ls2: LayerScale | undefined;

  constructor(o: VitBlockOptions) {
    super();
    const eps = o.eps ?? 1e-6;
    this.norm1 = this.module('norm1', new LayerNorm({ dim: o.dim, eps }));
    this.attn = this.module('attn', new Attention({ dim: o.dim, numHeads: o.numHeads, qkvBias: o.qkvBias, qkNorm: o.qkNorm, rng: o.rng }));
    if (o.layerScale !== undefined) this.ls1 = this.module('ls1', new LayerScale(o.dim, o.layerScale));
    this.norm2 = this.module('norm2', new LayerNorm({ dim: o.dim, eps }));
    this.mlp = this.module('mlp', new Mlp({ dim: o.dim, hidden: Math.round(o.dim * (o.mlpRatio ?? 4)), act: o.act, rng: o.rng }));
    if (o.layerScale !== undefined) this.ls2 = this.module('ls2', new LayerScale(o.dim, o.layerScale));
  }

  /** x: [B, T, C] → [B, T, C]. */
  forward(x: tf.Tensor, call: VitBlockCall = {}): tf.Tensor {
    const dp = call.dropPath && call.dropPath.rate > 0 ? call.dropPath : undefined;
    return tf.tidy(() => {
      const B = x.shape[0];
      // each branch draws its drop-path samples when it is added, attention's before the MLP's
      const a = this.attn.forward(this.norm1.forward(x), call);
      const h = residualBranch(x, a, this.ls1?.gamma, dp && dropPathScale(B, dp.rate, dp.rng));
      const m = this.mlp.forward(this.norm2.forward(h));
      return residualBranch(h, m, this.ls2?.gamma, dp && dropPathScale(B, dp.rate, dp.rng));
    });
  }
}
