/**
 * RobusTok encoder (upstream `DINOv2Encoder` with abs_pos_embed, dossier §2.1): a timm ViT over the image
 * patches plus cls, with L learnable latent tokens appended. The latent tokens reuse the image position
 * embedding (they form the same g×g grid), a 2-entry level embedding marks which side a position is on,
 * and the encoder's output is the last L tokens after the final norm.
 *
 *   images [B, 3, H, W] → patches [B, N, W] → [cls | patches] + pos            [B, 1 + N, W]  (+ lvl[0])
 *                          latent_tokens + pos[1:]                              [B, L, W]      (+ lvl[1])
 *                        → blocks → norm → last L tokens                        [B, L, W]
 *
 * Level layout: index 0 on the cls + image positions (N + 1 of them), index 1 on the L latent positions.
 * Upstream builds its index buffer `lvl1LC` with patch_size² + 1 zeros, which equals N + 1 only at
 * 256 px / patch 16 (and errors elsewhere); we implement the intended layout and keep no buffer.
 *
 * Names (under `encoder.`): model.{patch_embed.proj, cls_token, pos_embed, blocks.i.*, norm},
 * latent_tokens, lvl_embed.weight — upstream's, so a converted checkpoint loads as is.
 */
import * as tf from '@tensorflow/tfjs';
import { expandTo } from './layers/broadcast';
import type { Rng } from './training/rng';
import { dropPathRates } from './layers/drop-path';
import { Embedding } from './layers/embedding';
import { initTensor } from './layers/init';
import { Module } from './layers/module';
import { VitEncoder } from './layers/vit-encoder';
import type { TokenizerConfig } from './tokenizer-config';
import { blockCall, levelRow, type ForwardCall } from './robustok-vit';

export class RobustokEncoder extends Module {
  readonly model: VitEncoder;
  readonly latentTokens: tf.Variable; // [1, L, W]
  readonly lvlEmbed: Embedding; // [2, W]
  private readonly dpr: number[];
  readonly numLatentTokens: number;

  constructor(c: TokenizerConfig, rng: Rng) {
    super();
    this.model = this.module(
      'model',
      new VitEncoder({
        imgSize: c.image_size,
        patchSize: c.patch_size,
        inChans: 3,
        embedDim: c.width,
        depth: c.depth,
        numHeads: c.num_heads,
        mlpRatio: c.mlp_ratio,
        eps: 1e-6,
        layerScale: c.layer_scale_init ?? undefined,
        rng,
      }),
    );
    this.numLatentTokens = c.num_latent_tokens;
    this.latentTokens = this.param('latent_tokens', initTensor([1, c.num_latent_tokens, c.width], { kind: 'normal', std: 1e-6 }, rng));
    this.lvlEmbed = this.module('lvl_embed', new Embedding(2, c.width, { rng, init: { kind: 'truncNormal', std: Math.sqrt(1 / c.width / 3) } }));
    this.dpr = dropPathRates(c.drop_path_rate, c.depth);
  }

  /** images NCHW [B, 3, H, W] in [-1, 1] → latent-token features [B, L, W] (before quant_conv). */
  forward(images: tf.Tensor, call: ForwardCall = {}): tf.Tensor {
    const m = this.model;
    const L = this.numLatentTokens;
    return tf.tidy(() => {
      const patches = m.patchEmbed.forward(images, 'channelsFirst'); // [B, N, W]
      const [B, N, W] = patches.shape as [number, number, number];
      const cls = expandTo(m.clsToken as tf.Variable, [B, 1, W]);
      const img = tf.concat([cls, patches], 1).add(m.posEmbed); // [B, 1 + N, W]
      const gridPos = m.posEmbed.slice([0, 1, 0], [1, N, W]); // [1, 1 + N, W] -> [1, N, W] (cls row dropped)
      const lat = expandTo(this.latentTokens.add(gridPos).add(levelRow(this.lvlEmbed, 1)), [B, L, W]); // [1, L, W] -> [B, L, W]
      let x = tf.concat([img.add(levelRow(this.lvlEmbed, 0)), lat], 1); // [B, 1 + N + L, W]
      m.blocks.items.forEach((blk, i) => {
        x = blk.forward(x, blockCall(call, this.dpr[i] ?? 0));
      });
      x = m.norm.forward(x);
      return x.slice([0, 1 + N, 0], [B, L, W]); // [B, 1 + N + L, W] -> [B, L, W]
    });
  }

  /** Names of the ViT backbone's parameters (what post-training's "frozen encoder" freezes, §2.6). */
  backboneParameterNames(prefix = ''): string[] {
    return [...this.model.parameters(`${prefix}model.`).keys()];
  }
}
