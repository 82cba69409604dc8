/**
 * The DINO discriminator of RobusTok main training (spec §2.5; upstream `discriminator_dino.py`,
 * after VAR / StyleGAN-T): a frozen DINO v1 ViT-S/16 reads the image, and one small trainable head per
 * "readout" (the tokens after the position embedding and after blocks 2, 5, 8, 11, each patch token
 * plus the CLS token) turns its 196 tokens into 196 logits. Output: [B, 5·196].
 *
 *   x ∈ [-1, 1] → ImageNet-normalised → 224 px (random 224 crop with p = ½ when both sides exceed 224,
 *   else area-downsize / bicubic-upsize) → ViT-S (GELU-tanh MLP, LN eps 1e-6, key bias zeroed, no final
 *   norm) → readouts [B, 196, 384]
 *   head: SN-Conv1d k=1 → BatchNormLocal → LReLU(0.2) → residual ½√2·(f(x) + x) with f = SN-Conv1d k=9
 *   (circular) → BatchNormLocal → LReLU(0.2) → SN-Conv1d 384 → 1
 *
 * Names follow upstream: the state dict holds only the heads (`heads.{i}.0.0.weight_orig`, …; the
 * backbone lives outside it upstream too), and the backbone loads from DINO's released
 * `dino_deitsmall16_pretrain.pth` names (`blocks.0.attn.qkv.weight`, …). Conv1d runs as an unfold plus
 * one matmul on channels-last tokens, so its gradient needs no conv kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { expandTo } from './layers/broadcast';
import { loadStateDict } from '../compute/checkpoint';
import { SafetensorsReader } from '../compute/safetensors';
import { PipelineError } from '../core/errors';
import { initTensor } from './layers/init';
import { LayerNorm } from './layers/layer-norm';
import { linear } from './layers/linear';
import { assertShape, Module, ModuleList } from './layers/module';
import { PatchEmbed } from './layers/patch-embed';
import { placeholderRng } from './layers/placeholder-rng';
import { resizeNchw } from './layers/resize';
import { SpectralNormWeight } from './layers/spectral-norm';
import { VitBlock } from './layers/vit-block';
import type { Rng } from './training/rng';
import { imagenetFromPm1 } from './semantic-teacher';

export interface DinoDiscOptions {
  /** Backbone input side (224 for the released weights). */
  imgSize?: number;
  patchSize?: number;
  width?: number;
  numHeads?: number;
  /** Blocks run (12); readouts after the key depths below it. */
  depth?: number;
  keyDepths?: readonly number[];
  /** Kernel of the residual conv (9). */
  kernelSize?: number;
  /** BatchNormLocal group size (8). */
  virtualBatch?: number;
  normEps?: number;
}

const DEFAULTS = { imgSize: 224, patchSize: 16, width: 384, numHeads: 6, depth: 12, keyDepths: [2, 5, 8, 11], kernelSize: 9, virtualBatch: 8, normEps: 1e-6 };

/** The frozen DINO ViT-S trunk (timm names). Returns every readout, channels-last [B, N, D]. */
export class FrozenDinoVit extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable;
  readonly blocks: ModuleList<VitBlock>;
  readonly keyDepths: ReadonlySet<number>;
  readonly imgSize: number;

  constructor(o: Required<DinoDiscOptions>) {
    super();
    const rng = placeholderRng(); // weights always come from a file
    this.imgSize = o.imgSize;
    this.keyDepths = new Set(o.keyDepths.filter((d) => d < o.depth));
    this.patchEmbed = this.module('patch_embed', new PatchEmbed({ imgSize: o.imgSize, patchSize: o.patchSize, inChans: 3, embedDim: o.width, rng }));
    this.clsToken = this.param('cls_token', tf.zeros([1, 1, o.width]));
    this.posEmbed = this.param('pos_embed', tf.zeros([1, this.patchEmbed.numPatches + 1, o.width]));
    const n = Math.max(o.depth, 1 + Math.max(-1, ...this.keyDepths));
    this.blocks = this.module(
      'blocks',
      new ModuleList(
        Array.from({ length: n }, () => new VitBlock({ dim: o.width, numHeads: o.numHeads, qkvBias: true, eps: o.normEps, act: 'gelu_tanh', rng })),
      ),
    );
    // present in the released weights and upstream's module, unused by the discriminator
    this.module('norm', new LayerNorm({ dim: o.width, eps: o.normEps }));
    this.setTrainable(false);
  }

  /** Zeroes the key third of every qkv bias, as upstream does to the released weights before use. */
  zeroKeyBias(): void {
    for (const b of this.blocks.items) {
      const bias = b.attn.qkv.bias;
      if (!bias) continue;
      const C = bias.shape[0] / 3;
      tf.tidy(() => bias.assign(tf.concat([bias.slice(0, C), tf.zeros([C]), bias.slice(2 * C, C)])));
    }
  }

  /** Normalised, resized images [B, 3, imgSize, imgSize] → readouts, each [B, N, D] (patch tokens + CLS). */
  readouts(x: tf.Tensor): tf.Tensor[] {
    return tf.tidy(() => {
      let h = this.patchEmbed.forward(x, 'channelsFirst'); // [B, N, D]
      const [B, , D] = h.shape as [number, number, number];
      h = tf.concat([expandTo(this.clsToken, [B, 1, D]), h], 1).add(this.posEmbed); // -> [B, 1 + N, D]
      const readout = (t: tf.Tensor) => t.slice([0, 1, 0], [-1, -1, -1]).add(t.slice([0, 0, 0], [-1, 1, -1])); // [B, N, D]
      const outs = [readout(h)];
      this.blocks.items.forEach((b, i) => {
        h = b.forward(h);
        if (this.keyDepths.has(i)) outs.push(readout(h));
      });
      return outs;
    });
  }
}

/**
 * x ∈ [-1, 1] NCHW → ImageNet-normalised at size×size. When both sides exceed `size`, a fair coin from
 * `rng` picks a random crop (one offset for the whole batch) or an area downsize; smaller images are
 * bicubic-upsized. Draws nothing from `rng` otherwise.
 */
export function dinoDiscInput(x: tf.Tensor, size: number, rng: Rng): tf.Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const crop = H > size && W > size && rng.uniform() <= 0.5;
  const offset = crop ? [rng.int(H - size + 1), rng.int(W - size + 1)] : [0, 0];
  return tf.tidy(() => {
    const n = imagenetFromPm1(x);
    if (crop) return n.slice([0, 0, offset[0] as number, offset[1] as number], [-1, -1, size, size]);
    return resizeNchw(n, size, size, H > size ? 'area' : 'bicubic');
  });
}

/** SpectralNorm Conv1d (PyTorch Conv1d + torch.nn.utils.spectral_norm), circular padding k // 2. */
class SnConv1d extends Module {
  readonly sn: SpectralNormWeight;
  readonly bias: tf.Variable;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly k: number,
    rng: Rng,
  ) {
    super();
    const bound = 1 / Math.sqrt(inChannels * k); // PyTorch's default Conv1d init
    const w = this.param('weight_orig', initTensor([outChannels, inChannels, k], { kind: 'uniform', low: -bound, high: bound }, rng));
    this.bias = this.param('bias', initTensor([outChannels], { kind: 'uniform', low: -bound, high: bound }, rng));
    const { u, v } = SpectralNormWeight.initVectors(w.shape, rng);
    this.sn = new SpectralNormWeight(w, this.buffer('weight_u', u), this.buffer('weight_v', v), { powerIterations: 1, eps: 1e-12 });
  }

  /** x: [B, L, C] → [B, L, out]. */
  forward(x: tf.Tensor, training: boolean): tf.Tensor {
    if (training) this.sn.updateVectors();
    const { k, inChannels: C } = this;
    return tf.tidy(() => {
      const w = this.sn.normalized().reshape([this.outChannels, C * k]); // [out, C, k] -> [out, C·k]
      if (k === 1) return linear(x, w, this.bias);
      const L = x.shape[1] as number;
      const p = Math.floor(k / 2);
      const padded = tf.concat([x.slice([0, L - p, 0], [-1, p, -1]), x, x.slice([0, 0, 0], [-1, p, -1])], 1); // circular: [B, L + 2p, C]
      const taps = Array.from({ length: k }, (_, j) => padded.slice([0, j, 0], [-1, L, -1])); // k × [B, L, C]
      const cols = tf.stack(taps, 3).reshape([-1, L, C * k]); // [B, L, C, k] -> [B, L, C·k] (PyTorch's weight order c·k + j)
      return linear(cols, w, this.bias);
    });
  }
}

/** Batch norm over groups of `virtualBatch` samples, always from the batch's own statistics. */
class BatchNormLocal extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(
    channels: number,
    readonly virtualBatch: number,
    readonly eps: number,
  ) {
    super();
    this.weight = this.param('weight', tf.ones([channels]));
    this.bias = this.param('bias', tf.zeros([channels]));
  }

  /** x: [B, L, C] → same. */
  forward(x: tf.Tensor): tf.Tensor {
    const [B, L, C] = x.shape as [number, number, number];
    const G = Math.ceil(B / this.virtualBatch);
    if (B % G !== 0)
      throw new PipelineError(
        'TENSOR_SHAPE',
        `BatchNormLocal: batch ${B} does not split into ${G} equal groups of ≤ ${this.virtualBatch} (upstream's view() needs B divisible by ceil(B / ${this.virtualBatch})); use such a batch size`,
      );
    return tf.tidy(() => {
      const g = x.reshape([G, B / G, L, C]); // [B, L, C] -> [G, B/G, L, C]
      const { mean, variance } = tf.moments(g, [1, 2], true); // [G, 1, 1, C]
      return g
        .sub(mean)
        .mul(tf.rsqrt(variance.add(this.eps)))
        .reshape([B, L, C])
        .mul(this.weight)
        .add(this.bias);
    });
  }
}

/** conv → BatchNormLocal → LeakyReLU(0.2) (upstream make_block; index 2 is the activation). */
class HeadBlock extends Module {
  readonly conv: SnConv1d;
  readonly norm: BatchNormLocal;
  constructor(o: Required<DinoDiscOptions>, k: number, rng: Rng) {
    super();
    this.conv = this.module('0', new SnConv1d(o.width, o.width, k, rng));
    this.norm = this.module('1', new BatchNormLocal(o.width, o.virtualBatch, o.normEps));
  }
  forward(x: tf.Tensor, training: boolean): tf.Tensor {
    const h = this.conv.forward(x, training);
    return tf.tidy(() => tf.leakyRelu(this.norm.forward(h), 0.2));
  }
}

class Residual extends Module {
  readonly fn: HeadBlock;
  constructor(fn: HeadBlock) {
    super();
    this.fn = this.module('fn', fn);
  }
  forward(x: tf.Tensor, training: boolean): tf.Tensor {
    const f = this.fn.forward(x, training);
    return tf.tidy(() => f.add(x).mul(Math.SQRT1_2));
  }
}

class DinoHead extends Module {
  readonly block: HeadBlock;
  readonly residual: Residual;
  readonly out: SnConv1d;
  constructor(o: Required<DinoDiscOptions>, rng: Rng) {
    super();
    this.block = this.module('0', new HeadBlock(o, 1, rng));
    this.residual = this.module('1', new Residual(new HeadBlock(o, o.kernelSize, rng)));
    this.out = this.module('2', new SnConv1d(o.width, 1, 1, rng));
  }
  /** [B, L, D] → [B, L]. */
  forward(x: tf.Tensor, training: boolean): tf.Tensor {
    return tf.tidy(() => this.out.forward(this.residual.forward(this.block.forward(x, training), training), training).squeeze([2]));
  }
}

export class DinoDisc extends Module {
  readonly heads: ModuleList<DinoHead>;
  /** Frozen, and kept out of the state dict (as upstream keeps it in a tuple). */
  readonly backbone: FrozenDinoVit;
  readonly options: Required<DinoDiscOptions>;

  /** Heads initialised from `rng`; backbone zeros until `loadBackbone`. */
  constructor(rng: Rng, o: DinoDiscOptions = {}) {
    super();
    this.options = { ...DEFAULTS, ...o };
    this.backbone = new FrozenDinoVit(this.options);
    const n = this.backbone.keyDepths.size + 1;
    this.heads = this.module('heads', new ModuleList(Array.from({ length: n }, () => new DinoHead(this.options, rng))));
  }

  /**
   * Builds the discriminator, loads the backbone from `path` (DINO ViT-S/16 names; a `head.*` entry is
   * ignored) and zeroes its key bias. If the file also holds `heads.*` (an upstream `discriminator`
   * state dict merged in), the heads load from it; otherwise they start from `rng`.
   */
  static async load(path: string, rng: Rng, o: DinoDiscOptions = {}): Promise<DinoDisc> {
    const d = new DinoDisc(rng, o);
    try {
      const reader = await SafetensorsReader.open(path);
      try {
        const withHeads = reader.names().some((k) => k.startsWith('heads.'));
        await loadStateDict(d.backbone.stateDict(), reader, { ignore: (k) => k.startsWith('heads.') || k.startsWith('head.') }).catch((e: unknown) => {
          if (!(e instanceof PipelineError) || e.code !== 'CHECKPOINT_MISMATCH') throw e;
          throw new PipelineError(
            'CHECKPOINT_MISMATCH',
            `${e.message}\nThe DINO discriminator backbone is DINO ViT-S/16 at ${d.options.imgSize} px (dino_deitsmall16_pretrain.pth converted to safetensors: README "Loss networks").`,
            { cause: e, details: e.details },
          );
        });
        if (withHeads) await loadStateDict(d.stateDict(), reader, { ignore: (k) => !k.startsWith('heads.') });
      } finally {
        await reader.close();
      }
      d.backbone.zeroKeyBias();
      return d;
    } catch (e) {
      d.dispose();
      throw e;
    }
  }

  /** x: NCHW in [-1, 1] → logits [B, heads·N]. `training` advances the spectral-norm estimates; `rng` feeds the crop. */
  forward(x: tf.Tensor, opts: { training: boolean; rng: Rng }): tf.Tensor {
    assertShape(x, [null, 3, null, null], 'DinoDisc input (NCHW)');
    const B = x.shape[0];
    return tf.tidy(() => {
      const acts = this.backbone.readouts(dinoDiscInput(x, this.options.imgSize, opts.rng));
      const logits = this.heads.items.map((h, i) => h.forward(acts[i] as tf.Tensor, opts.training)); // each [B, N]
      return tf.concat(logits, 1).reshape([B, -1]); // -> [B, heads·N]
    });
  }

  override dispose(): void {
    super.dispose();
    this.backbone.dispose();
  }
}
