/**
 * A small trainable convolutional discriminator for smoke-size tokenizer training, in place of the
 * DINO discriminator (which needs released weights and 224-px inputs). PatchGAN-shaped (Isola et al.):
 * `layers` convs of kernel 4, stride 2 (channels ×2 each, capped at 8·channels) with LeakyReLU(0.2),
 * then a 3×3 conv to one logit per patch. No batch norm, so a sample's logits never depend on the
 * rest of the batch and eval equals training; spectral norm on every conv is optional.
 * Names follow the upstream PatchGAN's Sequential (`main.{i}.weight`), counting the activations.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { Conv2d, conv2dNhwc } from './layers/conv2d';
import { initTensor } from './layers/init';
import { assertShape, Module } from './layers/module';
import { SpectralNormWeight } from './layers/spectral-norm';
import type { Rng } from './training/rng';

export interface ConvDiscriminatorOptions {
  imageSize: number;
  inChannels?: number;
  /** Width of the first conv (default 32). */
  channels?: number;
  /** Number of stride-2 convs (default: as many as keep the logit grid ≥ 4×4, at most 3). */
  layers?: number;
  /** Spectral-normalise every conv weight (1 power iteration per training forward). Default false. */
  spectralNorm?: boolean;
  rng: Rng;
}

/** A conv whose weight may be spectrally normalised (names weight_orig/weight_u/weight_v then). */
class SnConv2d extends Module {
  readonly sn: SpectralNormWeight;
  readonly bias: tf.Variable;
  constructor(
    readonly inChannels: number,
    outChannels: number,
    readonly k: number,
    readonly stride: number,
    readonly padding: number,
    rng: Rng,
  ) {
    super();
    const w = this.param('weight_orig', initTensor([outChannels, inChannels, k, k], { kind: 'normal', std: 0.02 }, rng));
    this.bias = this.param('bias', tf.zeros([outChannels]));
    const { u, v } = SpectralNormWeight.initVectors(w.shape, rng);
    this.sn = new SpectralNormWeight(w, this.buffer('weight_u', u), this.buffer('weight_v', v));
  }
  forward(x: tf.Tensor, training: boolean): tf.Tensor {
    if (training) this.sn.updateVectors();
    return tf.tidy(() => conv2dNhwc(x, this.sn.normalized(), this.bias, this.stride, this.padding));
  }
}

/** The upstream `main` Sequential: convs at even indices (activations, parameter-free, at odd ones). */
class ConvStack extends Module {
  readonly convs: (Conv2d | SnConv2d)[] = [];
  constructor(o: ConvDiscriminatorOptions & { layers: number; inChannels: number }) {
    super();
    const ndf = o.channels ?? 32;
    let cin = o.inChannels;
    const add = (cout: number, k: number, stride: number, pad: number) => {
      const conv = o.spectralNorm
        ? new SnConv2d(cin, cout, k, stride, pad, o.rng)
        : new Conv2d({ inChannels: cin, outChannels: cout, kernelSize: k, stride, padding: pad, rng: o.rng });
      this.convs.push(this.module(String(2 * this.convs.length), conv));
      cin = cout;
    };
    for (let i = 0; i < o.layers; i++) add(ndf * Math.min(2 ** i, 8), 4, 2, 1);
    add(1, 3, 1, 1);
  }
}

export class ConvDiscriminator extends Module {
  private readonly main: ConvStack;
  readonly imageSize: number;
  readonly inChannels: number;
  /** Logits per image: (imageSize / 2^layers)². */
  readonly numLogits: number;

  constructor(o: ConvDiscriminatorOptions) {
    super();
    const layers = o.layers ?? Math.max(1, Math.min(3, Math.floor(Math.log2(o.imageSize / 4))));
    if (!Number.isInteger(layers) || layers < 1 || o.imageSize % 2 ** layers !== 0) {
      throw new PipelineError('CONFIG_INVALID', `ConvDiscriminator: imageSize ${o.imageSize} must be divisible by 2^layers (layers = ${layers})`);
    }
    this.imageSize = o.imageSize;
    this.inChannels = o.inChannels ?? 3;
    this.main = this.module('main', new ConvStack({ ...o, layers, inChannels: this.inChannels }));
    const g = o.imageSize / 2 ** layers;
    this.numLogits = g * g;
  }

  /** x: NCHW in [-1, 1] → logits [B, (H / 2^layers)²]. `training` advances the spectral-norm estimates. */
  forward(x: tf.Tensor, opts: { training: boolean; rng?: Rng }): tf.Tensor {
    assertShape(x, [null, this.inChannels, this.imageSize, this.imageSize], 'ConvDiscriminator input (NCHW)');
    const B = x.shape[0];
    const convs = this.main.convs;
    return tf.tidy(() => {
      let h = x.transpose([0, 2, 3, 1]); // [B, C, H, W] -> [B, H, W, C]
      convs.forEach((c, i) => {
        h = c instanceof SnConv2d ? c.forward(h, opts.training) : c.forward(h);
        if (i < convs.length - 1) h = tf.leakyRelu(h, 0.2);
      });
      return h.reshape([B, -1]); // [B, g, g, 1] -> [B, g·g]
    });
  }
}
