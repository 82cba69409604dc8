/**
 * LPIPS-VGG16 (Zhang et al. 2018), the perceptual term of tokenizer training (spec §2.5), under the
 * names of upstream `tokenizer/tokenizer_image/lpips.py` (`net.slice1.0.weight`, `lin0.model.1.weight`):
 *
 *   x, y ∈ [-1, 1] → (· − shift) / scale → VGG16 features at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
 *   → unit-normalise over channels → squared difference → 1×1 `lin` (C → 1) → spatial mean → Σ layers.
 *
 * All weights are frozen; the gradient flows to the inputs (the reconstruction). Upstream leaves the
 * 0.5 dropout before each `lin` active during training (its LPIPS is switched back to train mode with
 * the loss module); that is a bug we do not copy by default — `dropout: true` reproduces it, drawing
 * each mask from a seed taken from the caller's Rng (so a resumed run draws the same masks).
 *
 * Weights: one safetensors file. Accepted names: upstream LPIPS (`net.sliceK.N.*`, `linK.model.1.weight`,
 * optional `scaling_layer.*` buffers, which are constants here) or torchvision's VGG16 (`features.N.*`,
 * `classifier.*` ignored) merged with the LPIPS `vgg.pth` lin weights (`linK.model.1.weight`); a lin
 * layer saved without its dropout slot (`linK.model.0.weight`) loads as well.
 */
import * as tf from '@tensorflow/tfjs';
import { loadStateDict } from '../compute/checkpoint';
import { SafetensorsReader } from '../compute/safetensors';
import { PipelineError } from '../core/errors';
import { Conv2d } from './layers/conv2d';
import { assertShape, Module } from './layers/module';
import { Rng } from './training/rng';

/** torchvision vgg16.features indices of the convs, grouped by LPIPS slice (a max-pool opens slices 2–5). */
const SLICES: readonly (readonly number[])[] = [
  [0, 2],
  [5, 7],
  [10, 12, 14],
  [17, 19, 21],
  [24, 26, 28],
];
const CHANNELS = [64, 128, 256, 512, 512];
const SHIFT = [-0.03, -0.088, -0.188];
const SCALE = [0.458, 0.448, 0.45];
/** Weights always come from a file: zeros until loaded (drawing 14.7M random numbers would cost seconds). */
const UNSET = { kind: 'zeros' } as const;

class VggSlice extends Module {
  readonly convs: Conv2d[] = [];
  constructor(indices: readonly number[], inChannels: number, outChannels: number, rng: Rng) {
    super();
    let cin = inChannels;
    for (const i of indices) {
      this.convs.push(this.module(String(i), new Conv2d({ inChannels: cin, outChannels, kernelSize: 3, padding: 1, weightInit: UNSET, rng })));
      cin = outChannels;
    }
  }
}

class Vgg16Features extends Module {
  readonly slices: VggSlice[];
  constructor(rng: Rng) {
    super();
    this.slices = SLICES.map((idx, k) =>
      this.module(`slice${k + 1}`, new VggSlice(idx, k === 0 ? 3 : (CHANNELS[k - 1] as number), CHANNELS[k] as number, rng)),
    );
  }

  /** NHWC input → the five relu outputs (NHWC). */
  forward(x: tf.Tensor): tf.Tensor[] {
    const outs: tf.Tensor[] = [];
    let h = x;
    this.slices.forEach((s, k) => {
      if (k > 0) h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
      for (const c of s.convs) h = tf.relu(c.forward(h));
      outs.push(h);
    });
    return outs;
  }
}

/** `linK.model` of upstream: index 0 is the (parameter-free) dropout, 1 the 1×1 conv. */
class LinSequential extends Module {
  readonly conv: Conv2d;
  constructor(channels: number, rng: Rng) {
    super();
    this.conv = this.module('1', new Conv2d({ inChannels: channels, outChannels: 1, kernelSize: 1, bias: false, weightInit: UNSET, rng }));
  }
}
class NetLinLayer extends Module {
  readonly model: LinSequential;
  constructor(channels: number, rng: Rng) {
    super();
    this.model = this.module('model', new LinSequential(channels, rng));
  }
}

export interface LpipsOptions {
  /** Upstream's training-time dropout 0.5 before each lin layer (default false: the intended behaviour). */
  dropout?: boolean;
}

export class Lpips extends Module {
  readonly net: Vgg16Features;
  readonly lins: NetLinLayer[];
  readonly dropout: boolean;

  constructor(o: LpipsOptions = {}) {
    super();
    this.dropout = o.dropout ?? false;
    const rng = Rng.fromSeed(0);
    this.net = this.module('net', new Vgg16Features(rng));
    this.lins = CHANNELS.map((c, k) => this.module(`lin${k}`, new NetLinLayer(c, rng)));
    this.setTrainable(false);
  }

  static async load(path: string, o: LpipsOptions = {}): Promise<Lpips> {
    const m = new Lpips(o);
    try {
      const reader = await SafetensorsReader.open(path);
      try {
        await loadStateDict(m.fileNamed(reader.names()), reader, { ignore: (k) => k.startsWith('scaling_layer.') || k.startsWith('classifier.') });
      } finally {
        await reader.close();
      }
      return m;
    } catch (e) {
      m.dispose();
      if (e instanceof PipelineError && e.code === 'CHECKPOINT_MISMATCH') {
        throw new PipelineError(
          'CHECKPOINT_MISMATCH',
          `${e.message}\nLPIPS needs VGG16 features and the five lin layers in one file: see README "Loss networks" for the conversion.`,
          { cause: e, details: e.details },
        );
      }
      throw e;
    }
  }

  /** Our variables keyed by the naming scheme the file uses (upstream LPIPS or torchvision VGG16). */
  private fileNamed(keys: readonly string[]): Map<string, tf.Variable> {
    const has = new Set(keys);
    const torchvision = keys.some((k) => k.startsWith('features.'));
    const out = new Map<string, tf.Variable>();
    for (const [name, v] of this.stateDict()) {
      let key = name;
      if (torchvision) key = key.replace(/^net\.slice\d\./, 'features.');
      const lin0 = name.replace(/\.model\.1\.weight$/, '.model.0.weight');
      if (lin0 !== name && !has.has(name) && has.has(lin0)) key = lin0;
      out.set(key, v);
    }
    return out;
  }

  /** x, y: NCHW in [-1, 1] → distances [B]. Gradient flows to x and y. `rng` is required with dropout. */
  forward(x: tf.Tensor, y: tf.Tensor, opts: { rng?: Rng } = {}): tf.Tensor {
    assertShape(x, [null, 3, null, null], 'LPIPS input (NCHW)');
    assertShape(y, [...x.shape], 'LPIPS target');
    if (this.dropout && !opts.rng) throw new PipelineError('INTERNAL', 'LPIPS with dropout needs an Rng (forward(x, y, {rng}))');
    const B = x.shape[0];
    // one seed per lin layer, drawn up front so the Rng advances by the same amount every call
    const seeds = this.dropout ? CHANNELS.map(() => (opts.rng as Rng).nextUint32()) : [];
    return tf.tidy(() => {
      const shift = tf.tensor1d(SHIFT);
      const scale = tf.tensor1d(SCALE);
      const both = tf.concat([x, y], 0).transpose([0, 2, 3, 1]).sub(shift).div(scale); // [2B, C, H, W] -> [2B, H, W, C]
      const feats = this.net.forward(both);
      const perLayer = feats.map((f, k) => {
        const n = f.div(f.square().sum(-1, true).sqrt().add(1e-10)); // unit norm over channels, [2B, h, w, Ck]
        const [f0, f1] = tf.split(n, 2, 0) as [tf.Tensor, tf.Tensor]; // each [B, h, w, Ck]
        let d = f0.sub(f1).square();
        if (this.dropout) d = tf.dropout(d, 0.5, undefined, seeds[k]);
        const lin = (this.lins[k] as NetLinLayer).model.conv.forward(d); // [B, h, w, 1]
        return lin.mean([1, 2, 3]); // spatial mean -> [B]
      });
      return tf.addN(perLayer).reshape([B]);
    });
  }
}
