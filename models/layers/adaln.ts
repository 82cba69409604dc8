/**
 * adaLN modulation (DiT / RAR): a conditioning vector c produces per-channel shift, scale and gate
 * vectors through SiLU → Linear(D, n·D). Upstream builds it as nn.Sequential(SiLU, Linear), so the
 * Linear's state-dict names are `adaLN_modulation.1.weight` / `.bias`: the child is registered as "1".
 *
 * Init is adaLN-zero (weight and bias 0): every block starts as the identity, as in RAR.
 * Chunk order is the caller's business (RAR blocks: shift_msa, scale_msa, gate_msa, shift_mlp,
 * scale_mlp, gate_mlp; RAR FinalLayer: scale, shift).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { silu } from './activations';
import type { Init } from './init';
import { Linear } from './linear';
import { Module } from './module';

export interface AdaLNOptions {
  /** Width of the conditioning vector. */
  condDim: number;
  /** Width of each produced chunk (the modulated stream's channels). */
  dim: number;
  /** Number of chunks: 6 in a RAR/DiT block, 2 in the final layer. */
  chunks: number;
  /** Default zeros (adaLN-zero). */
  init?: Init;
  rng: Rng;
}

export class AdaLNModulation extends Module {
  readonly linear: Linear;
  readonly chunks: number;

  constructor(o: AdaLNOptions) {
    super();
    this.chunks = o.chunks;
    const init = o.init ?? { kind: 'zeros' };
    this.linear = this.module('1', new Linear({ inFeatures: o.condDim, outFeatures: o.chunks * o.dim, weightInit: init, biasInit: init, rng: o.rng }));
  }

  /** c: [..., condDim] → `chunks` tensors of [..., dim] (RAR passes one condition per position: [B, T, D]). */
  forward(c: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => tf.split(this.linear.forward(silu(c)), this.chunks, -1)); // [..., n·D] -> n × [..., D]
  }
}

/**
 * x·(1 + scale) + shift. shift/scale are [B, C] (one condition per sample, broadcast over T) or have x's
 * rank (one per position).
 */
export function modulate(x: tf.Tensor, shift: tf.Tensor, scale: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(perPosition(scale, x.rank).add(1)).add(perPosition(shift, x.rank)));
}

/** x + gate·y, the gated residual of an adaLN block. */
export function gatedResidual(x: tf.Tensor, gate: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.add(perPosition(gate, x.rank).mul(y)));
}

function perPosition(t: tf.Tensor, rank: number): tf.Tensor {
  return t.rank === rank - 1 ? t.expandDims(1) : t; // [B, C] -> [B, 1, C]
}
