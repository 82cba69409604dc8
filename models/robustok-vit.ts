/**
 * Pieces the RobusTok encoder and decoder share: the training call (drop-path needs a seeded stream),
 * the level-embedding row lookup, and the decoder's patch-less ViT trunk.
 */
import * as tf from '@tensorflow/tfjs';
import { expandTo } from './layers/broadcast';
import { PipelineError } from '../core/errors';
import type { Rng } from './training/rng';
import type { Embedding } from './layers/embedding';
import { initTensor } from './layers/init';
import { LayerNorm } from './layers/layer-norm';
import { Module, ModuleList } from './layers/module';
import { learnedPosEmbed } from './layers/position-embedding';
import { VitBlock, type VitBlockCall } from './layers/vit-block';

/** A forward pass' mode: training turns drop-path on and then needs the stream it draws from. */
export interface ForwardCall {
  training?: boolean;
  rng?: Rng;
}

/** The block call for one block: drop-path at `rate` in training, nothing otherwise. */
export function blockCall(call: ForwardCall, rate: number): VitBlockCall {
  if (!call.training || rate === 0) return {};
  if (!call.rng) throw new PipelineError('INTERNAL', 'a training forward pass with drop-path needs an rng (pass opts.rng)');
  return { dropPath: { rate, rng: call.rng } };
}

/** Row `i` of a level embedding as [1, 1, W] (a slice, so its gradient needs no scatter kernel). */
export function levelRow(e: Embedding, i: number): tf.Tensor {
  return tf.tidy(() => e.weight.slice([i, 0], [1, e.dim]).reshape([1, 1, e.dim])); // [2, W] -> [1, 1, W]
}

/**
 * The decoder's timm ViT without a patch embedding (upstream deletes its weights): cls_token, pos_embed,
 * blocks, norm — timm names, so `decoder.model.*` loads from upstream checkpoints.
 */
export class VitTrunk extends Module {
  readonly clsToken: tf.Variable; // [1, 1, W]
  readonly posEmbed: tf.Variable; // [1, 1 + N, W]
  readonly blocks: ModuleList<VitBlock>;
  readonly norm: LayerNorm;

  constructor(o: { numPatches: number; width: number; depth: number; numHeads: number; mlpRatio: number; layerScale?: number; rng: Rng }) {
    super();
    this.clsToken = this.param('cls_token', initTensor([1, 1, o.width], { kind: 'normal', std: 1e-6 }, o.rng));
    this.posEmbed = this.param('pos_embed', learnedPosEmbed(1 + o.numPatches, o.width, o.rng));
    const blocks = Array.from(
      { length: o.depth },
      () => new VitBlock({ dim: o.width, numHeads: o.numHeads, mlpRatio: o.mlpRatio, eps: 1e-6, layerScale: o.layerScale, rng: o.rng }),
    );
    this.blocks = this.module('blocks', new ModuleList(blocks));
    this.norm = this.module('norm', new LayerNorm({ dim: o.width, eps: 1e-6 }));
  }

  /** tokens [B, T, W] → [cls | tokens] + pos_embed, i.e. timm's `_pos_embed` for a T = N grid. */
  posEmbedWithCls(tokens: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [B, , W] = tokens.shape as [number, number, number];
      return tf.concat([expandTo(this.clsToken, [B, 1, W]), tokens], 1).add(this.posEmbed); // [B, 1 + T, W]
    });
  }
}
