/**
 * The two adaLN-conditioned pieces of RAR (§5). The condition is one vector per position (class
 * embedding + timestep embedding), so shift/scale/gate are [B, T, D], not DiT's [B, D].
 *
 *   RarBlock        pre-LN block; adaLN chunks (shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp);
 *                   attention with QK-norm and causal mask; names norm1, attn.*, norm2, mlp.*, adaLN_modulation.1.*
 *   RarFinalLayer   LayerNorm without affine, then modulation with chunks in the order (scale, shift),
 *                   the reverse of DiT; names norm_final (no parameters), adaLN_modulation.1.*
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from './training/rng';
import { AdaLNModulation, gatedResidual, modulate } from './layers/adaln';
import { Attention } from './layers/attention';
import type { KVCache } from './layers/kv-cache';
import { LayerNorm } from './layers/layer-norm';
import { Mlp } from './layers/mlp';
import { Module } from './layers/module';

const EPS = 1e-6;

export interface RarBlockOptions {
  dim: number;
  numHeads: number;
  /** MLP hidden width (upstream: int(dim · intermediate/dim)). */
  hidden: number;
  rng: Rng;
}

/** Training-time dropout of one forward pass. */
export interface RarDropout {
  /** proj and MLP dropout. */
  p: number;
  /** attention-probability dropout. */
  attn: number;
  rng: Rng;
}

export class RarBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly adaLN: AdaLNModulation;

  constructor(o: RarBlockOptions) {
    super();
    this.norm1 = this.module('norm1', new LayerNorm({ dim: o.dim, eps: EPS }));
    this.attn = this.module('attn', new Attention({ dim: o.dim, numHeads: o.numHeads, qkvBias: true, qkNorm: true, qkNormEps: EPS, rng: o.rng }));
    this.norm2 = this.module('norm2', new LayerNorm({ dim: o.dim, eps: EPS }));
    this.mlp = this.module('mlp', new Mlp({ dim: o.dim, hidden: o.hidden, act: 'gelu', rng: o.rng }));
    this.adaLN = this.module('adaLN_modulation', new AdaLNModulation({ condDim: o.dim, dim: o.dim, chunks: 6, rng: o.rng }));
  }

  /** x, c: [B, T, D] → [B, T, D]. With a cache, T counts only the new positions. */
  forward(x: tf.Tensor, c: tf.Tensor, o: { cache?: KVCache; dropout?: RarDropout } = {}): tf.Tensor {
    return tf.tidy(() => {
      const [shiftMsa, scaleMsa, gateMsa, shiftMlp, scaleMlp, gateMlp] = this.adaLN.forward(c) as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      const d = o.dropout;
      const a = this.attn.forward(modulate(this.norm1.forward(x), shiftMsa, scaleMsa), {
        causal: true,
        cache: o.cache,
        dropout: d && { attn: d.attn, proj: d.p, rng: d.rng },
      });
      const h = gatedResidual(x, gateMsa, a);
      const m = this.mlp.forward(modulate(this.norm2.forward(h), shiftMlp, scaleMlp), d && { p: d.p, rng: d.rng });
      return gatedResidual(h, gateMlp, m);
    });
  }
}

export class RarFinalLayer extends Module {
  readonly norm: LayerNorm;
  readonly adaLN: AdaLNModulation;

  constructor(o: { dim: number; rng: Rng }) {
    super();
    this.norm = this.module('norm_final', new LayerNorm({ dim: o.dim, eps: EPS, affine: false }));
    this.adaLN = this.module('adaLN_modulation', new AdaLNModulation({ condDim: o.dim, dim: o.dim, chunks: 2, rng: o.rng }));
  }

  /** x, c: [B, T, D] → [B, T, D]. */
  forward(x: tf.Tensor, c: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [scale, shift] = this.adaLN.forward(c) as [tf.Tensor, tf.Tensor]; // (scale, shift): upstream's order
      return modulate(this.norm.forward(x), shift, scale);
    });
  }
}
