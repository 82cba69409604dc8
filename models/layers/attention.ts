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
import { nativeOpsBackend } from '../../compute/native-ops';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { dropout, dropoutMask } from './dropout';
import { fusedBackend, mklSoftmax } from './native-fused';
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
      // one new query sees every cached key: the mask would be all zeros (saves 5 ops per layer and decode step)
      const bias = call.causal && T > 1 ? causalBias(T, Tk, past) : undefined;
      const scale = 1 / Math.sqrt(hs);
      const attnDrop = call.dropout && call.dropout.attn > 0 ? call.dropout : undefined;
      // drawn where dropout(softmax(…)) drew it: the stream's order is unchanged
      const mask = attnDrop ? dropoutMask([B, nh, T, Tk], attnDrop.attn, attnDrop.rng) : undefined;
      const o = attend(q, k, v, scale, bias, mask); // [B, nh, T, hs]
      const y = o
        .transpose([0, 2, 1, 3]) // [B, nh, T, hs] -> [B, T, nh, hs]
        .reshape([B, T, this.dim]); // -> [B, T, C]
      const out = this.proj.forward(y);
      return call.dropout ? dropout(out, call.dropout.proj, call.dropout.rng) : out;
    });
  }
}

/** tf.customGrad's parameter type: inputs and the save function arrive as one rest list. */
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * softmax(q kᵀ·scale + bias) v for q [B, nh, T, hs], k and v [B, nh, Tk, hs], an optional constant
 * additive bias [T, Tk] and an optional dropout multiplier M [B, nh, T, Tk] on the probabilities
 * (dropoutMask) → [B, nh, T, hs]. The forward is the same ops as autodiff would see (bit-identical
 * outputs; on the native backend the softmax is oneDNN's, equal to tf.softmax within 1e-7); the backward is written out (FlashAttention's form) so the [B, nh, T, Tk] tensors are touched
 * by 2 elementwise kernels (3 with dropout) instead of 6 (7): softmax's gradient, the scale's, the mask's:
 *   P = softmax(S), O = (P ⊙ M) v, dP = (dO vᵀ) ⊙ M,
 *   Dᵢ = Σⱼ Pᵢⱼ dPᵢⱼ = dOᵢ · Oᵢ (a [T, hs] product, not a [T, Tk] one),
 *   dS = P ⊙ (dP − D), dq = scale · dS k, dk = scale · dSᵀ q, dv = (P ⊙ M)ᵀ dO.
 * With our op library loaded (compute/native-ops.ts), D and dS come from one kernel that reads P, dP (and M)
 * once: equal to the ops above to float32 rounding (D accumulates in double); it also multiplies dS by the
 * scale, so dq = dS k and dk = dSᵀ q need no scaling pass.
 * A power-of-two scale (head size 4, 16, 64, 256: ViT-B, RAR) multiplies q [T, hs] instead of the scores
 * [T, Tk], and dk then needs no scaling: scaling by 2ᵏ commutes with float rounding, so the scores are
 * the same bits either way. With our op library q takes any scale ([T, hs] is smaller than [T, Tk]
 * whenever keys outnumber the head size): float32 rounding, not bits, for other head sizes.
 */
export function attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, scale: number, bias?: tf.Tensor, mask?: tf.Tensor): tf.Tensor {
  // with our op library q always takes the scale (its backward scales dS, so it needs q unscaled anyway)
  const ops = nativeOpsBackend(q);
  const onQ = Number.isInteger(Math.log2(scale)) || ops !== undefined;
  const f = tf.customGrad<tf.Tensor>(((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, save: tf.GradSaveFunc) => {
    const q1 = onQ ? qq.mul(scale) : qq;
    let scores = tf.matMul(q1, kk, false, true); // [B, nh, T, hs] x [B, nh, Tk, hs]ᵀ -> [B, nh, T, Tk]
    if (!onQ) scores = scores.mul(scale);
    if (bias) scores = scores.add(bias);
    const be = fusedBackend(scores, 'softmax');
    // oneDNN's softmax on the native backend: half the CPU time of TensorFlow's Eigen Softmax at [32, 2, 64, 64]
    // (0.49 → 0.24 ms, one thread); equal to it within 1e-7 (not bit for bit)
    const p = be ? mklSoftmax(be, scores) : tf.softmax(scores, -1);
    const pm = mask ? p.mul(mask) : p; // what multiplies v
    const o = tf.matMul(pm, vv); // [B, nh, T, Tk] x [B, nh, Tk, hs] -> [B, nh, T, hs]
    // with our op library the backward takes the unscaled q (the kernel scales dS instead; see below)
    const qSaved = ops ? qq : q1;
    save(mask ? [qSaved, kk, vv, p, o, pm, mask] : [qSaved, kk, vv, p, o, pm]); // saved, not captured: the caller's tidy frees the mask before the backward runs
    return {
      value: o,
      gradFunc: (dO: tf.Tensor, saved: tf.Tensor[]) => {
        const [qs, ks, vs, ps, os, pms, ms] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
        let dP = tf.matMul(dO, vs, false, true); // [B, nh, T, hs] x [B, nh, Tk, hs]ᵀ -> [B, nh, T, Tk]
        if (ops) {
          // our op library: D and dS·scale in one pass over the scores (native/robustok-ops/attention-grad.cc),
          // so neither product below needs a scaling pass; for a power-of-two scale the bits are those of
          // scaling q or dq instead
          const attrs = [{ name: 'scale', type: ops.binding.TF_ATTR_FLOAT, value: scale }];
          const dS = ms // [B, nh, T, Tk]
            ? ops.executeSingleOutput('RobustokAttentionScoresGradMasked', attrs, [ps, dP, dO, os, ms])
            : ops.executeSingleOutput('RobustokAttentionScoresGrad', attrs, [ps, dP, dO, os]);
          return [
            tf.matMul(dS, ks), // [B, nh, T, Tk] x [B, nh, Tk, hs] -> [B, nh, T, hs]
            tf.matMul(dS, qs, true, false), // [B, nh, T, Tk]ᵀ x [B, nh, T, hs] -> [B, nh, Tk, hs]
            tf.matMul(pms, dO, true, false), // [B, nh, T, Tk]ᵀ x [B, nh, T, hs] -> [B, nh, Tk, hs]
          ];
        }
        if (ms) dP = dP.mul(ms);
        const D = dO.mul(os).sum(-1, true); // [B, nh, T, 1]
        const dS = ps.mul(dP.sub(D)); // [B, nh, T, Tk]
        const dk = tf.matMul(dS, qs, true, false); // [B, nh, T, Tk]ᵀ x [B, nh, T, hs] -> [B, nh, Tk, hs] (times scale unless qs has it)
        return [
          tf.matMul(dS, ks).mul(scale), // [B, nh, T, Tk] x [B, nh, Tk, hs] -> [B, nh, T, hs]
          onQ ? dk : dk.mul(scale),
          tf.matMul(pms, dO, true, false), // [B, nh, T, Tk]ᵀ x [B, nh, T, hs] -> [B, nh, Tk, hs]
        ];
      },
    };
  }) as CustomGradientFunc);
  return tf.tidy(() => f(q, k, v));
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
