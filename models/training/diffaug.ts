/**
 * Differentiable augmentation for discriminator inputs (DiffAug, Zhao et al. 2020, in the variant
 * StyleGAN-T and RobusTok use; spec §2.5): per-sample translation with zero fill, colour (brightness,
 * saturation, contrast) and a zeroed cutout square. It sits between the generator output and D, so
 * every step is plain tensor arithmetic with a gradient to x; the random draws only pick constants.
 *
 * Randomness comes from the caller's Rng (checkpointable). Each call draws exactly 7·B uniforms in the
 * upstream order — rows [shift-y, shift-x, brightness, saturation, contrast, cut-y, cut-x] × samples —
 * whichever transforms are switched on, so toggling one never shifts the draws of another.
 * Sizes use Python's round-half-to-even, as upstream does (`round(H * ratio)`).
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from './rng';

export interface DiffAugOptions {
  /** Default true. */
  translation?: boolean;
  /** Default true. */
  color?: boolean;
  /** Default true. */
  cutout?: boolean;
  /** Maximum shift as a fraction of the side (default 0.125: ±32 px at 256). */
  translationRatio?: number;
  /** Side of the cutout square as a fraction of the image side (default 0.2: 51 px at 256). */
  cutoutRatio?: number;
}

/** The 7×B uniform draws of one call, row-major ([draw kind][sample]). Exposed for tests. */
export function drawDiffAug(rng: Rng, batch: number): Float64Array {
  const u = new Float64Array(7 * batch);
  for (let i = 0; i < u.length; i++) u[i] = rng.uniform();
  return u;
}

/** x: NCHW in [-1, 1] → augmented x, same shape. */
export function diffAugment(x: tf.Tensor, rng: Rng, opts: DiffAugOptions = {}): tf.Tensor {
  if (x.rank !== 4) throw new PipelineError('TENSOR_SHAPE', `diffAugment: expected NCHW images, got [${x.shape.join(', ')}]`);
  const [B, , H, W] = x.shape as [number, number, number, number];
  const u = drawDiffAug(rng, B);
  const row = (k: number) => u.subarray(k * B, (k + 1) * B);
  return tf.tidy(() => {
    let y = x;
    if (opts.translation ?? true) y = translate(y, row(0), row(1), opts.translationRatio ?? 0.125);
    if (opts.color ?? true) y = color(y, row(2), row(3), row(4));
    if (opts.cutout ?? true) {
      const mask = cutoutMask(B, H, W, row(5), row(6), opts.cutoutRatio ?? 0.2);
      if (mask) y = y.mul(mask);
    }
    return y;
  });
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** out[b, :, h, w] = x[b, :, h + ty, w + tx], zero where that falls outside; ty, tx ∈ [−δ, δ]. */
function translate(x: tf.Tensor, uy: Float64Array, ux: Float64Array, ratio: number): tf.Tensor {
  const [B, , H, W] = x.shape as [number, number, number, number];
  const dy = roundHalfEven(H * ratio);
  const dx = roundHalfEven(W * ratio);
  if (dy === 0 && dx === 0) return x;
  // Padding by δ turns the shifted read of sample b into a plain in-bounds slice at (δ + ty, δ + tx).
  const padded = tf.pad(x, [
    [0, 0],
    [0, 0],
    [dy, dy],
    [dx, dx],
  ]); // [B, C, H, W] -> [B, C, H + 2δy, W + 2δx]
  const parts: tf.Tensor[] = [];
  for (let b = 0; b < B; b++) {
    const ty = Math.floor((uy[b] as number) * (2 * dy + 1)) - dy;
    const tx = Math.floor((ux[b] as number) * (2 * dx + 1)) - dx;
    parts.push(padded.slice([b, 0, dy + ty, dx + tx], [1, -1, H, W])); // -> [1, C, H, W]
  }
  return tf.concat(parts, 0); // -> [B, C, H, W]
}

/** Brightness + U(−½, ½); saturation × U(0, 2) around the per-pixel channel mean; contrast × U(½, 3⁄2) around the image mean. */
function color(x: tf.Tensor, ub: Float64Array, us: Float64Array, uc: Float64Array): tf.Tensor {
  const B = x.shape[0];
  const perSample = (v: Float64Array, f: (t: number) => number) => tf.tensor4d(Float32Array.from(v, f), [B, 1, 1, 1]);
  let y = x.add(perSample(ub, (t) => t - 0.5));
  const pixelMean = y.mean(1, true); // [B, 1, H, W]
  y = y
    .sub(pixelMean)
    .mul(perSample(us, (t) => 2 * t))
    .add(pixelMean);
  const imageMean = y.mean([1, 2, 3], true); // [B, 1, 1, 1]
  return y
    .sub(imageMean)
    .mul(perSample(uc, (t) => t + 0.5))
    .add(imageMean);
}

/**
 * [B, 1, H, W] of ones with one zeroed rectangle per sample: a cH×cW square centred at a uniform
 * position (the centre range is widened by one for even sides, as upstream), clipped to the image.
 * Returns undefined when the square rounds to nothing.
 */
function cutoutMask(B: number, H: number, W: number, uy: Float64Array, ux: Float64Array, ratio: number): tf.Tensor | undefined {
  const ch = roundHalfEven(H * ratio);
  const cw = roundHalfEven(W * ratio);
  if (ch === 0 || cw === 0) return undefined;
  const m = new Float32Array(B * H * W).fill(1);
  for (let b = 0; b < B; b++) {
    const cy = Math.floor((uy[b] as number) * (H + 1 - (ch % 2)));
    const cx = Math.floor((ux[b] as number) * (W + 1 - (cw % 2)));
    const y0 = Math.max(0, cy - Math.floor(ch / 2));
    const y1 = Math.min(H - 1, cy - Math.floor(ch / 2) + ch - 1);
    const x0 = Math.max(0, cx - Math.floor(cw / 2));
    const x1 = Math.min(W - 1, cx - Math.floor(cw / 2) + cw - 1);
    for (let r = y0; r <= y1; r++) m.fill(0, b * H * W + r * W + x0, b * H * W + r * W + x1 + 1);
  }
  return tf.tensor4d(m, [B, 1, H, W]);
}
