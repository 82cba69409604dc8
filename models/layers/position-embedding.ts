/**
 * Position embeddings. Learned tables are plain parameters on the owning model (upstream names them
 * `pos_embed`, `target_aware_pos_embed`, … directly on the model, not `pos_embed.weight`), so this file
 * offers the initialiser and the ops on them rather than a Module:
 *   - learnedPosEmbed: trunc-normal(0.02) table [1, N, D] (timm ViT, RAR);
 *   - gatherPositions: per-sample rows of a table for a permuted token order (RAR's random order);
 *   - sincos2d: the fixed 2-D sin-cos table of MAE/DiT for a gh×gw grid;
 *   - resizePosEmbed2d: bilinear resize of a learned grid table (e.g. a 37×37 DINOv2 table to 16×16).
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { initTensor, TRUNC_NORMAL_002 } from './init';

/** A fresh [1, N, D] table, trunc-normal(0.02). Register it with `Module.param`. */
export function learnedPosEmbed(n: number, dim: number, rng: Rng): tf.Tensor {
  return initTensor([1, n, dim], TRUNC_NORMAL_002, rng);
}

/** table [1, N, D], positions int32 [B, T] → [B, T, D] (differentiable w.r.t. the table). */
export function gatherPositions(table: tf.Tensor, positions: tf.Tensor): tf.Tensor {
  if (table.rank !== 3 || table.shape[0] !== 1)
    throw new PipelineError('TENSOR_SHAPE', `gatherPositions: table must be [1, N, D], got [${table.shape.join(', ')}]`);
  return tf.tidy(() => tf.gather(table.squeeze([0]), positions)); // [N, D] gathered by [B, T] -> [B, T, D]
}

/**
 * Fixed 2-D sin-cos table [gh·gw, D] (MAE `get_2d_sincos_pos_embed`): the first D/2 channels encode the
 * column index and the last D/2 the row index (MAE meshgrids (w, h)), each as [sin(pos·ω_k) | cos(pos·ω_k)]
 * with ω_k = 1/10000^(k/(D/4)), k < D/4. Table rows are in raster order (row·gw + col).
 */
export function sincos2d(gh: number, gw: number, dim: number): tf.Tensor {
  if (dim % 4 !== 0) throw new PipelineError('CONFIG_INVALID', `sincos2d: dim ${dim} must be divisible by 4`);
  const quarter = dim / 4;
  const out = new Float32Array(gh * gw * dim);
  for (let r = 0; r < gh; r++) {
    for (let c = 0; c < gw; c++) {
      const base = (r * gw + c) * dim;
      // MAE meshgrids (w, h) and encodes grid[0] (the column index) in the first half.
      for (const [half, pos] of [
        [0, c],
        [1, r],
      ] as const) {
        for (let k = 0; k < quarter; k++) {
          const omega = 1 / Math.pow(10000, k / quarter);
          out[base + half * 2 * quarter + k] = Math.sin(pos * omega);
          out[base + half * 2 * quarter + quarter + k] = Math.cos(pos * omega);
        }
      }
    }
  }
  return tf.tensor2d(out, [gh * gw, dim]);
}

/**
 * Resizes a learned grid table [1, prefix + gh·gw, D] to [1, prefix + nh·nw, D], keeping the first
 * `prefix` rows (cls tokens) as they are. Bilinear (align_corners=false); timm uses bicubic+antialias,
 * so a resized table is close to, not bit-equal with, timm's.
 */
export function resizePosEmbed2d(table: tf.Tensor, o: { prefix: number; from: [number, number]; to: [number, number] }): tf.Tensor {
  const [fh, fw] = o.from;
  const [th, tw] = o.to;
  const D = table.shape[2] as number;
  if (table.rank !== 3 || table.shape[1] !== o.prefix + fh * fw)
    throw new PipelineError('TENSOR_SHAPE', `resizePosEmbed2d: table [${table.shape.join(', ')}] does not hold ${o.prefix} + ${fh}×${fw} rows`);
  return tf.tidy(() => {
    const prefix = table.slice([0, 0, 0], [1, o.prefix, D]);
    const grid = table.slice([0, o.prefix, 0], [1, fh * fw, D]).reshape([1, fh, fw, D]); // [1, N, D] -> [1, gh, gw, D]
    const resized = tf.image.resizeBilinear(grid as tf.Tensor4D, [th, tw], false, true).reshape([1, th * tw, D]); // -> [1, nh·nw, D]
    return tf.concat([prefix, resized], 1);
  });
}
