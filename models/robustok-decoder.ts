/**
 * RobusTok decoder (upstream `DINOv2Decoder` with abs_pos_embed, dossier §2.3): N learned mask tokens
 * (one per output patch) and the L quantised latent tokens, each side with its own cls and the shared
 * position embedding, a 2-entry level embedding, a ViT, and a Linear `to_pixel` + unpatchify.
 *
 *   mask_token × N  → [cls | masks] + pos    [B, 1 + N, W]  (+ lvl[0])
 *   latents [B,L,W] → [cls | latents] + pos  [B, 1 + L, W]  (+ lvl[1])
 *   → blocks → norm → positions 1..N → to_pixel [B, N, 3·p·p] in (py, px, c) order → [B, 3, H, W]
 *
 * No clamp: the training losses see the raw output; clamp to [-1, 1] only when producing images.
 * Upstream's `lvl1LC` buffer has patch_size² + 1 zeros where it means N + 1 (see robustok-encoder.ts).
 *
 * Names (under `decoder.`): model.{cls_token, pos_embed, blocks.i.*, norm}, mask_token,
 * lvl_embed.weight, to_pixel.model.{weight, bias}. Upstream deletes the decoder's patch-embed weights,
 * so there are none here either.
 */
import * as tf from '@tensorflow/tfjs';
import { expandTo } from './layers/broadcast';
import type { Rng } from './training/rng';
import { dropPathRates } from './layers/drop-path';
import { Embedding } from './layers/embedding';
import { initTensor } from './layers/init';
import { Linear } from './layers/linear';
import { assertShape, Module } from './layers/module';
import { unpatchify } from './layers/unpatchify';
import type { TokenizerConfig } from './tokenizer-config';
import { blockCall, levelRow, VitTrunk, type ForwardCall } from './robustok-vit';

/** Upstream `ToPixel(to_pixel='linear')`: holds the Linear as `model` (name `to_pixel.model.weight`). */
export class ToPixel extends Module {
  readonly model: Linear;
  constructor(width: number, patchSize: number, rng: Rng) {
    super();
    const bound = 1 / Math.sqrt(width); // nn.Linear's default init: it sits outside the timm model
    const init = { kind: 'uniform', low: -bound, high: bound } as const;
    this.model = this.module('model', new Linear({ inFeatures: width, outFeatures: 3 * patchSize * patchSize, weightInit: init, biasInit: init, rng }));
  }
}

export class RobustokDecoder extends Module {
  readonly model: VitTrunk;
  readonly maskToken: tf.Variable; // [1, 1, W]
  readonly lvlEmbed: Embedding; // [2, W]
  readonly toPixel: ToPixel;
  private readonly dpr: number[];
  readonly grid: number;
  readonly patchSize: number;
  readonly width: number;

  constructor(c: TokenizerConfig, rng: Rng) {
    super();
    this.grid = c.image_size / c.patch_size;
    this.patchSize = c.patch_size;
    this.width = c.width;
    this.model = this.module(
      'model',
      new VitTrunk({
        numPatches: this.grid * this.grid,
        width: c.width,
        depth: c.depth,
        numHeads: c.num_heads,
        mlpRatio: c.mlp_ratio,
        layerScale: c.layer_scale_init ?? undefined,
        rng,
      }),
    );
    this.maskToken = this.param('mask_token', initTensor([1, 1, c.width], { kind: 'normal', std: 1e-6 }, rng));
    this.lvlEmbed = this.module('lvl_embed', new Embedding(2, c.width, { rng, init: { kind: 'truncNormal', std: Math.sqrt(1 / c.width / 3) } }));
    this.toPixel = this.module('to_pixel', new ToPixel(c.width, c.patch_size, rng));
    this.dpr = dropPathRates(c.drop_path_rate, c.depth);
  }

  /** tokens [B, L, W] (after post_quant_conv, raster order) → images [B, 3, H, W], unclamped. */
  forward(tokens: tf.Tensor, call: ForwardCall = {}): tf.Tensor {
    const { recon, features } = this.forwardWithFeatures(tokens, call);
    features.dispose();
    return recon;
  }

  /** forward, also returning the to_pixel input [B, N, W] (the adaptive GAN weight's last-layer input). */
  forwardWithFeatures(tokens: tf.Tensor, call: ForwardCall = {}): { recon: tf.Tensor; features: tf.Tensor } {
    const N = this.grid * this.grid;
    assertShape(tokens, [null, N, this.width], 'RobustokDecoder input');
    const B = tokens.shape[0];
    const W = this.width;
    return tf.tidy(() => {
      const masks = this.model.posEmbedWithCls(expandTo(this.maskToken, [B, N, W])); // [B, 1 + N, W]
      const lat = this.model.posEmbedWithCls(tokens); // [B, 1 + L, W]
      let x = tf.concat([masks.add(levelRow(this.lvlEmbed, 0)), lat.add(levelRow(this.lvlEmbed, 1))], 1); // [B, 2 + N + L, W]
      this.model.blocks.items.forEach((blk, i) => {
        x = blk.forward(x, blockCall(call, this.dpr[i] ?? 0));
      });
      x = this.model.norm.forward(x).slice([0, 1, 0], [B, N, W]); // [B, 2 + N + L, W] -> [B, N, W] (mask positions)
      const pix = this.toPixel.model.forward(x); // [B, N, 3·p·p]
      const recon = unpatchify(pix, { patchSize: this.patchSize, gridH: this.grid, gridW: this.grid, channels: 3, format: 'channelsFirst' }); // -> [B, 3, H, W]
      return { recon, features: x };
    });
  }
}
