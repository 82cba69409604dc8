/**
 * Patch embedding (timm PatchEmbed): a Conv2d with kernel = stride = patch size, i.e. a Linear over
 * each non-overlapping p×p patch. We compute it as patchify + matmul instead of conv2d: the result is
 * identical, it needs no Conv2DBackpropFilter (which the wasm backend lacks and the cpu backend runs
 * ~1000× slower), and the weight stays in the PyTorch Conv layout [D, C, p, p] for direct loading.
 *
 * Input images may be channels-first [B, C, H, W] (what upstream .npy dumps hold) or channels-last
 * [B, H, W, C] (tfjs' native layout). Output tokens are in raster order: index = row·gw + col.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { initTensor, TRUNC_NORMAL_002 } from './init';
import { Module } from './module';
import { linear } from './linear';

export type DataFormat = 'channelsFirst' | 'channelsLast';

export interface PatchEmbedOptions {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  bias?: boolean;
  rng: Rng;
}

export class PatchEmbed extends Module {
  readonly proj: PatchProj;
  readonly patchSize: number;
  readonly gridSize: number;
  readonly numPatches: number;
  readonly inChans: number;
  readonly embedDim: number;

  constructor(o: PatchEmbedOptions) {
    super();
    if (o.imgSize % o.patchSize !== 0)
      throw new PipelineError('CONFIG_INVALID', `PatchEmbed: imgSize ${o.imgSize} is not a multiple of patchSize ${o.patchSize}`);
    this.patchSize = o.patchSize;
    this.gridSize = o.imgSize / o.patchSize;
    this.numPatches = this.gridSize * this.gridSize;
    this.inChans = o.inChans;
    this.embedDim = o.embedDim;
    this.proj = this.module('proj', new PatchProj(o));
  }

  /** images [B, C, H, W] or [B, H, W, C] → tokens [B, N, D]. */
  forward(images: tf.Tensor, format: DataFormat = 'channelsLast'): tf.Tensor {
    const { patchSize: p, inChans: C, embedDim: D } = this;
    return tf.tidy(() => {
      const patches = patchify(images, p, format); // [B, N, C·p·p] in (c, py, px) order
      if (patches.shape[2] !== C * p * p)
        throw new PipelineError('TENSOR_SHAPE', `PatchEmbed: expected ${C} input channels, got images of shape [${images.shape.join(', ')}]`);
      const w = this.proj.weight.reshape([D, C * p * p]); // [D, C, p, p] -> [D, C·p·p]
      const y = linear(patches.reshape([-1, C * p * p]), w, this.proj.bias); // [B·N, C·p·p] x [D, C·p·p]ᵀ (+ bias) -> [B·N, D]
      return y.reshape([images.shape[0], -1, D]); // -> [B, N, D]
    });
  }
}

/** Holds `weight` [D, C, p, p] and `bias` [D] under the `proj.` prefix, like timm's Conv2d. */
class PatchProj extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;
  constructor(o: PatchEmbedOptions) {
    super();
    this.weight = this.param('weight', initTensor([o.embedDim, o.inChans, o.patchSize, o.patchSize], TRUNC_NORMAL_002, o.rng));
    this.bias = o.bias === false ? undefined : this.param('bias', tf.zeros([o.embedDim]));
  }
}

/**
 * Cuts images into non-overlapping p×p patches: → [B, gh·gw, C·p·p], each patch flattened in
 * (c, py, px) order — the order of a PyTorch Conv2d weight's [C, kh, kw] axes.
 */
export function patchify(images: tf.Tensor, p: number, format: DataFormat): tf.Tensor {
  if (images.rank !== 4) throw new PipelineError('TENSOR_SHAPE', `patchify: expected a rank-4 image batch, got [${images.shape.join(', ')}]`);
  const [B, a, b, c] = images.shape as [number, number, number, number];
  const [C, H, W] = format === 'channelsFirst' ? [a, b, c] : [c, a, b];
  if (H % p !== 0 || W % p !== 0) throw new PipelineError('TENSOR_SHAPE', `patchify: image ${H}×${W} is not divisible by patch size ${p}`);
  const gh = H / p;
  const gw = W / p;
  return tf.tidy(() => {
    const t =
      format === 'channelsFirst'
        ? images.reshape([B, C, gh, p, gw, p]).transpose([0, 2, 4, 1, 3, 5]) // [B, C, H, W] -> [B, C, gh, p, gw, p] -> [B, gh, gw, C, p, p]
        : images.reshape([B, gh, p, gw, p, C]).transpose([0, 1, 3, 5, 2, 4]); // [B, H, W, C] -> [B, gh, p, gw, p, C] -> [B, gh, gw, C, p, p]
    return t.reshape([B, gh * gw, C * p * p]); // -> [B, N, C·p·p]
  });
}
