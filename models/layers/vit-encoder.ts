/**
 * A plain timm-style Vision Transformer trunk: patch_embed → [cls_token] + pos_embed → blocks → norm.
 * Names match timm's VisionTransformer (`patch_embed.proj.weight`, `cls_token`, `pos_embed`,
 * `blocks.{i}.…`, `norm.weight`), so a timm ViT state dict (minus its head) loads directly. It is the
 * trunk the RobusTok encoder/decoder extend (latent tokens, level embedding) in their own model files.
 */
import * as tf from '@tensorflow/tfjs';
import { expandTo } from './broadcast';
import type { Rng } from '../training/rng';
import { initTensor } from './init';
import { LayerNorm } from './layer-norm';
import { assertShape, Module, ModuleList } from './module';
import { PatchEmbed, type DataFormat } from './patch-embed';
import { learnedPosEmbed } from './position-embedding';
import { VitBlock } from './vit-block';

export interface VitEncoderOptions {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  /** LayerNorm eps; timm ViTs use 1e-6. */
  eps?: number;
  /** LayerScale init (DINOv2: 1e-5); undefined = none. */
  layerScale?: number;
  /** Prepend a learned class token (timm default). */
  classToken?: boolean;
  rng: Rng;
}

export class VitEncoder extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: tf.Variable | undefined;
  readonly posEmbed: tf.Variable;
  readonly blocks: ModuleList<VitBlock>;
  readonly norm: LayerNorm;
  readonly numPrefix: number;

  constructor(o: VitEncoderOptions) {
    super();
    this.patchEmbed = this.module(
      'patch_embed',
      new PatchEmbed({ imgSize: o.imgSize, patchSize: o.patchSize, inChans: o.inChans, embedDim: o.embedDim, rng: o.rng }),
    );
    this.numPrefix = o.classToken === false ? 0 : 1;
    // timm: cls_token ~ N(0, 1e-6), pos_embed ~ trunc-normal(0.02)
    if (this.numPrefix) this.clsToken = this.param('cls_token', initTensor([1, 1, o.embedDim], { kind: 'normal', std: 1e-6 }, o.rng));
    this.posEmbed = this.param('pos_embed', learnedPosEmbed(this.numPrefix + this.patchEmbed.numPatches, o.embedDim, o.rng));
    const blocks = Array.from(
      { length: o.depth },
      () =>
        new VitBlock({
          dim: o.embedDim,
          numHeads: o.numHeads,
          mlpRatio: o.mlpRatio,
          qkvBias: o.qkvBias,
          eps: o.eps ?? 1e-6,
          layerScale: o.layerScale,
          rng: o.rng,
        }),
    );
    this.blocks = this.module('blocks', new ModuleList(blocks));
    this.norm = this.module('norm', new LayerNorm({ dim: o.embedDim, eps: o.eps ?? 1e-6 }));
  }

  /** images [B, C, H, W] (default) or [B, H, W, C] → tokens [B, prefix + N, D] after the final norm. */
  forward(images: tf.Tensor, format: DataFormat = 'channelsFirst'): tf.Tensor {
    return tf.tidy(() => {
      let x = this.patchEmbed.forward(images, format); // [B, N, D]
      const [B, , D] = x.shape as [number, number, number];
      if (this.clsToken) x = tf.concat([expandTo(this.clsToken, [B, 1, D]), x], 1); // -> [B, 1 + N, D]
      assertShape(x, [B, this.posEmbed.shape[1] as number, D], 'VitEncoder tokens');
      x = x.add(this.posEmbed);
      for (const blk of this.blocks.items) x = blk.forward(x);
      return this.norm.forward(x);
    });
  }
}
