/**
 * Multi-head self-attention as in timm / RAR (`qkv`, optional `q_norm`/`k_norm`, `proj`), with an
 * optional causal mask and a KV cache for incremental decoding.
 *
 *   x [B, T, C] → qkv → q, k, v [B, nh, T, hs] → (QK-norm: LayerNorm over hs) → softmax(q kᵀ/√hs + mask) v
 *   → [B, T, C] → proj
 *
 * QK-norm is RAR's choice (LayerNorm with affine over head_dim, eps 1e-6); ViT encoders leave it off.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { dropout } from './dropout';
import type { KVCache } from './kv-cache';
import { LayerNorm } from './layer-norm';
import { Linear } from './linear';
import { assertShape, Module } from './module';

export interface AttentionOptions {
  dim: number;
  numHeads: number;
  /** Default true (timm qkv_bias=True for ViT-B/DINOv2, RAR). */
  qkvBias?: boolean;
  /** LayerNorm on q and k per head (RAR). Default false. */
  qkNorm?: boolean;
  qkNormEps?: number;
  rng: Rng;
}

export interface AttentionCall {
  /** Position i attends only to positions ≤ i (absolute positions, counting cached ones). */
  causal?: boolean;
  /** Keys/values of earlier positions; the new ones are appended to it. */
  cache?: KVCache;
  /** Training only: dropout on the attention probabilities and on the projected output (SDPA dropout_p, proj_drop). */
  dropout?: { attn: number; proj: number; rng: Rng };
}

/** Large negative instead of −∞ so a fully masked row cannot produce NaN through (−∞) − (−∞). */
const MASKED = -1e9;

export class Attention extends Module {
  readonly qkv: Linear;
  readonly qNorm: LayerNorm | undefined;
  readonly kNorm: LayerNorm | undefined;
  readonly proj: Linear;
  readonly numHeads: number;
  readonly headDim: number;
  readonly dim: number;

  constructor(o: AttentionOptions) {
    super();
    if (o.dim % o.numHeads !== 0) throw new PipelineError('CONFIG_INVALID', `Attention: dim ${o.dim} is not divisible by numHeads ${o.numHeads}`);
    this.dim = o.dim;
    this.numHeads = o.numHeads;
    this.headDim = o.dim / o.numHeads;
    this.qkv = this.module('qkv', new Linear({ inFeatures: o.dim, outFeatures: 3 * o.dim, bias: o.qkvBias ?? true, rng: o.rng }));
    if (o.qkNorm) {
      this.qNorm = this.module('q_norm', new LayerNorm({ dim: this.headDim, eps: o.qkNormEps ?? 1e-6 }));
      this.kNorm = this.module('k_norm', new LayerNorm({ dim: this.headDim, eps: o.qkNormEps ?? 1e-6 }));
    }
    this.proj = this.module('proj', new Linear({ inFeatures: o.dim, outFeatures: o.dim, rng: o.rng }));
  }

  /** x: [B, T, C] → [B, T, C]. With a cache, T is the number of new positions (usually 1). */
  forward(x: tf.Tensor, call: AttentionCall = {}): tf.Tensor {
    assertShape(x, [null, null, this.dim], 'Attention input');
    const [B, T] = x.shape as [number, number, number];
    const { numHeads: nh, headDim: hs } = this;
    return tf.tidy(() => {
      const qkv = this.qkv
        .forward(x) // [B, T, 3C]
        .reshape([B, T, 3, nh, hs]) // [B, T, 3C] -> [B, T, 3, nh, hs]
        .transpose([2, 0, 3, 1, 4]); // -> [3, B, nh, T, hs]
      let [q, k, v] = tf.unstack(qkv) as [tf.Tensor, tf.Tensor, tf.Tensor]; // each [B, nh, T, hs]
      if (this.qNorm && this.kNorm) {
        q = this.qNorm.forward(q);
        k = this.kNorm.forward(k);
      }
      const past = call.cache?.length ?? 0;
      if (call.cache) ({ k, v } = call.cache.append(k, v)); // -> [B, nh, past + T, hs]
      const Tk = past + T;
      let scores = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hs)); // [B, nh, T, hs] x [B, nh, Tk, hs]ᵀ -> [B, nh, T, Tk]
      // one new query sees every cached key: the mask would be all zeros (saves 5 ops per layer and decode step)
      if (call.causal && T > 1) scores = scores.add(causalBias(T, Tk, past));
      let att = tf.softmax(scores, -1);
      if (call.dropout) att = dropout(att, call.dropout.attn, call.dropout.rng);
      const y = tf
        .matMul(att, v) // [B, nh, T, Tk] x [B, nh, Tk, hs] -> [B, nh, T, hs]
        .transpose([0, 2, 1, 3]) // -> [B, T, nh, hs]
        .reshape([B, T, this.dim]); // -> [B, T, C]
      const out = this.proj.forward(y);
      return call.dropout ? dropout(out, call.dropout.proj, call.dropout.rng) : out;
    });
  }
}

/**
 * [T, Tk] additive mask: 0 where key j ≤ query i + past, MASKED elsewhere. Broadcasts over [B, nh].
 * `past` shifts the diagonal so cached decoding (T = 1, Tk = past + 1) sees every earlier key.
 */
export function causalBias(T: number, Tk: number, past: number): tf.Tensor {
  return tf.tidy(() => {
    const allowed = tf.linalg.bandPart(tf.ones([T, Tk]), -1, past); // 1 on and below the shifted diagonal
    return tf.sub(1, allowed).mul(MASKED);
  });
}
