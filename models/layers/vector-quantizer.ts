/**
 * l2-normalised vector quantizer (RobusTok/LlamaGen `VectorQuantizer`, dossier §2.2): tokens and codebook
 * rows are projected to the unit sphere, each token takes its nearest code (squared Euclidean = max cosine
 * there), and the gradient passes straight through to the encoder.
 *
 *   zn = normalize(z), cb = normalize(codebook)
 *   idx = argmin ‖zn − cb_k‖²,  zq = cb[idx]
 *   codebookLoss = mean((zq − sg(zn))²)          (moves codes towards tokens)
 *   commitLoss   = β · mean((sg(zq) − zn)²)      (β = 0.25; moves tokens towards codes)
 *   out          = zn + sg(zq − zn)              (value zq, gradient identity to zn)
 *
 * The codebook is `embedding.weight` [K, D] (upstream `quantize.embedding.weight`), init U(−1/K, 1/K)
 * then row-normalised. No EMA update or dead-code restart: the upstream config uses neither.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { Embedding } from './embedding';
import { assertShape, Module } from './module';
import { stopGradient, straightThrough } from './stop-gradient';

export interface VectorQuantizerOptions {
  codebookSize: number;
  dim: number;
  /** Commitment weight; 0.25 upstream. */
  beta?: number;
  rng: Rng;
}

export interface QuantizeResult {
  /** Straight-through quantised tokens, same shape as the input. */
  zq: tf.Tensor;
  /** int32 code ids, the input shape without the last axis. */
  indices: tf.Tensor;
  codebookLoss: tf.Scalar;
  commitLoss: tf.Scalar;
}

export class VectorQuantizer extends Module {
  readonly embedding: Embedding;
  readonly beta: number;
  readonly dim: number;

  constructor(o: VectorQuantizerOptions) {
    super();
    this.dim = o.dim;
    this.beta = o.beta ?? 0.25;
    const K = o.codebookSize;
    this.embedding = this.module('embedding', new Embedding(K, o.dim, { rng: o.rng, init: { kind: 'uniform', low: -1 / K, high: 1 / K } }));
    // Upstream normalises the rows once at init; the forward pass normalises again anyway.
    const unit = l2Normalize(this.embedding.weight);
    this.embedding.weight.assign(unit);
    unit.dispose();
  }

  /** The unit-norm codebook [K, D]. */
  normalizedCodebook(): tf.Tensor {
    return tf.tidy(() => l2Normalize(this.embedding.weight));
  }

  /** z: [..., D] (channels last) → quantised tokens, ids and the two losses. */
  forward(z: tf.Tensor): QuantizeResult {
    assertShape(z, [...z.shape.slice(0, -1), this.dim], 'VectorQuantizer input');
    const lead = z.shape.slice(0, -1);
    return tf.tidy(() => {
      const zn = l2Normalize(z.reshape([-1, this.dim])); // [..., D] -> [M, D]
      const cb = l2Normalize(this.embedding.weight); // [K, D]
      // ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b; on the sphere the norms are 1 but we keep them for robustness to eps.
      const dist = zn
        .square()
        .sum(1, true)
        .add(cb.square().sum(1).expandDims(0))
        .sub(tf.matMul(zn, cb, false, true).mul(2)); // [M, K]
      const idx = tf.argMin(dist, 1); // [M] int32
      // One-hot matmul instead of gather: tfjs' tape rejects gather whose indices descend from a watched
      // variable (their int32 zero gradient fails its float32 check), and the matmul backprop runs on every
      // backend (gather's gradient needs UnsortedSegmentSum, which wasm lacks). Same cost order as `dist`.
      const zq = tf.matMul(oneHotF32(idx, cb.shape[0]), cb); // [M, K] x [K, D] -> [M, D]
      const codebookLoss = zq.sub(stopGradient(zn)).square().mean<tf.Scalar>();
      const commitLoss = stopGradient(zq).sub(zn).square().mean<tf.Scalar>().mul<tf.Scalar>(this.beta);
      const out = straightThrough(zn, zq).reshape([...lead, this.dim]); // [M, D] -> [..., D]
      return { zq: out, indices: idx.reshape(lead), codebookLoss, commitLoss };
    });
  }

  /** ids int32 [...] → unit-norm code vectors [..., D] (upstream get_codebook_entry, before reshaping to a grid). */
  lookup(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const cb = l2Normalize(this.embedding.weight);
      return tf.gather(cb, ids);
    });
  }
}

/**
 * float32 one-hot rows [..., depth]. Built as int32 then cast: tfjs-backend-wasm 4.22's OneHot writes the
 * int32 bit pattern into a float32 output (1 reads as 1.4e-45), which silently zeroed every quantised
 * vector on wasm.
 */
export function oneHotF32(ids: tf.Tensor, depth: number): tf.Tensor {
  return tf.tidy(() => tf.oneHot(ids, depth).cast('float32'));
}

/** x / max(‖x‖₂, eps) over the last axis (F.normalize). */
export function l2Normalize(x: tf.Tensor, eps = 1e-12): tf.Tensor {
  return tf.tidy(() => x.div(tf.maximum(x.square().sum(-1, true).sqrt(), eps)));
}
