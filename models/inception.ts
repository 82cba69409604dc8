/**
 * Inception-v3 as used for FID (the TF graph `inception-2015-12-05`, i.e. pytorch-fid's
 * FIDInceptionV3), in tfjs, inference only. Differences from torchvision's v3 that the 2015 graph
 * has and we reproduce: 1008 logits, average pools that exclude padding (TF 'SAME' semantics), a
 * max pool in the last block's pool branch, BatchNorm eps 1e-3 (folded into the convolutions).
 *
 * Input handling follows the graph fed at `ExpandDims:0` as the ADM evaluator does: uint8-range
 * float NHWC images of any size, TF1 bilinear resize to 299×299 (align_corners=False, legacy
 * corner mapping without half-pixel centres), then (x − 128) · 0.0078125.
 *
 * Outputs: pool_3 (N×2048), the sFID spatial features (first 7 channels of mixed_6/conv =
 * Mixed_6d.branch1x1 after BN+ReLU, 17×17, flattened in NHWC order → N×2023, the layout of ADM's
 * mu_s/sigma_s) and the 1008 logits pool_3 · Wᵀ *without* bias (what ADM's IS uses).
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import type { InceptionWeights, WeightTensor } from './inception-weights';

export const POOL_DIM = 2048;
export const SPATIAL_DIM = 17 * 17 * 7;
export const LOGIT_CLASSES = 1008;
export const INPUT_SIZE = 299;
export const BN_EPS = 1e-3;
export const NETWORK_NAME = 'inception-v3-fid-2015-12-05';

export interface ConvSpec {
  readonly name: string;
  readonly cin: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
}

/** Every BasicConv2d (conv without bias + BN + ReLU) of the network, with its state-dict prefix. */
export function inceptionConvSpecs(): ConvSpec[] {
  const s: ConvSpec[] = [];
  const c = (name: string, cin: number, cout: number, kh: number, kw = kh) => s.push({ name, cin, cout, kh, kw });
  c('Conv2d_1a_3x3', 3, 32, 3);
  c('Conv2d_2a_3x3', 32, 32, 3);
  c('Conv2d_2b_3x3', 32, 64, 3);
  c('Conv2d_3b_1x1', 64, 80, 1);
  c('Conv2d_4a_3x3', 80, 192, 3);
  const blockA = (n: string, cin: number, pool: number) => {
    c(`${n}.branch1x1`, cin, 64, 1);
    c(`${n}.branch5x5_1`, cin, 48, 1);
    c(`${n}.branch5x5_2`, 48, 64, 5);
    c(`${n}.branch3x3dbl_1`, cin, 64, 1);
    c(`${n}.branch3x3dbl_2`, 64, 96, 3);
    c(`${n}.branch3x3dbl_3`, 96, 96, 3);
    c(`${n}.branch_pool`, cin, pool, 1);
  };
  blockA('Mixed_5b', 192, 32);
  blockA('Mixed_5c', 256, 64);
  blockA('Mixed_5d', 288, 64);
  c('Mixed_6a.branch3x3', 288, 384, 3);
  c('Mixed_6a.branch3x3dbl_1', 288, 64, 1);
  c('Mixed_6a.branch3x3dbl_2', 64, 96, 3);
  c('Mixed_6a.branch3x3dbl_3', 96, 96, 3);
  const blockC = (n: string, c7: number) => {
    c(`${n}.branch1x1`, 768, 192, 1);
    c(`${n}.branch7x7_1`, 768, c7, 1);
    c(`${n}.branch7x7_2`, c7, c7, 1, 7);
    c(`${n}.branch7x7_3`, c7, 192, 7, 1);
    c(`${n}.branch7x7dbl_1`, 768, c7, 1);
    c(`${n}.branch7x7dbl_2`, c7, c7, 7, 1);
    c(`${n}.branch7x7dbl_3`, c7, c7, 1, 7);
    c(`${n}.branch7x7dbl_4`, c7, c7, 7, 1);
    c(`${n}.branch7x7dbl_5`, c7, 192, 1, 7);
    c(`${n}.branch_pool`, 768, 192, 1);
  };
  blockC('Mixed_6b', 128);
  blockC('Mixed_6c', 160);
  blockC('Mixed_6d', 160);
  blockC('Mixed_6e', 192);
  c('Mixed_7a.branch3x3_1', 768, 192, 1);
  c('Mixed_7a.branch3x3_2', 192, 320, 3);
  c('Mixed_7a.branch7x7x3_1', 768, 192, 1);
  c('Mixed_7a.branch7x7x3_2', 192, 192, 1, 7);
  c('Mixed_7a.branch7x7x3_3', 192, 192, 7, 1);
  c('Mixed_7a.branch7x7x3_4', 192, 192, 3);
  const blockE = (n: string, cin: number) => {
    c(`${n}.branch1x1`, cin, 320, 1);
    c(`${n}.branch3x3_1`, cin, 384, 1);
    c(`${n}.branch3x3_2a`, 384, 384, 1, 3);
    c(`${n}.branch3x3_2b`, 384, 384, 3, 1);
    c(`${n}.branch3x3dbl_1`, cin, 448, 1);
    c(`${n}.branch3x3dbl_2`, 448, 384, 3);
    c(`${n}.branch3x3dbl_3a`, 384, 384, 1, 3);
    c(`${n}.branch3x3dbl_3b`, 384, 384, 3, 1);
    c(`${n}.branch_pool`, cin, 192, 1);
  };
  blockE('Mixed_7b', 1280);
  blockE('Mixed_7c', 2048);
  return s;
}

/** Seeded random weights (He-scaled convs, BN at its identity statistics) with the file's names. */
export function randomInceptionTensors(seed: number): Map<string, WeightTensor> {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
  const t = new Map<string, WeightTensor>();
  for (const c of inceptionConvSpecs()) {
    const n = c.cout * c.cin * c.kh * c.kw;
    // Uniform(−a, a) with variance 2 / fan_in keeps ReLU activations at a stable scale.
    const a = Math.sqrt(6 / (c.cin * c.kh * c.kw));
    t.set(`${c.name}.conv.weight`, { shape: [c.cout, c.cin, c.kh, c.kw], data: Float32Array.from({ length: n }, () => 2 * a * uniform()) });
    t.set(`${c.name}.bn.weight`, { shape: [c.cout], data: new Float32Array(c.cout).fill(1) });
    t.set(`${c.name}.bn.bias`, { shape: [c.cout], data: Float32Array.from({ length: c.cout }, () => 0.1 * uniform()) });
    t.set(`${c.name}.bn.running_mean`, { shape: [c.cout], data: new Float32Array(c.cout) });
    t.set(`${c.name}.bn.running_var`, { shape: [c.cout], data: new Float32Array(c.cout).fill(1 - BN_EPS) });
  }
  const a = Math.sqrt(3 / POOL_DIM);
  t.set('fc.weight', { shape: [LOGIT_CLASSES, POOL_DIM], data: Float32Array.from({ length: LOGIT_CLASSES * POOL_DIM }, () => 2 * a * uniform()) });
  t.set('fc.bias', { shape: [LOGIT_CLASSES], data: new Float32Array(LOGIT_CLASSES) });
  return t;
}

interface FoldedConv {
  readonly filter: tf.Tensor4D;
  readonly bias: tf.Tensor1D;
  readonly spec: ConvSpec;
}

export interface InceptionOutputs {
  /** N×2048 pool_3 features. */
  readonly pool: tf.Tensor2D;
  /** N×2023 sFID features. */
  readonly spatial: tf.Tensor2D;
  /** N×1008 logits without the bias. */
  readonly logits: tf.Tensor2D;
}

export class FidInception {
  private constructor(
    private readonly convs: ReadonlyMap<string, FoldedConv>,
    private readonly fcT: tf.Tensor2D,
    readonly weightsDigest: string,
    readonly weightsSource: string,
  ) {}

  /** Builds the network from loaded weights; every expected tensor must be present with its shape. */
  static fromWeights(w: InceptionWeights): FidInception {
    const get = (name: string, shape: readonly number[]): Float32Array => {
      const t = w.tensors.get(name);
      if (!t)
        throw new PipelineError(
          'DATA_CORRUPT',
          `${w.source}: tensor '${name}' is missing; this is not a converted FID Inception-v3 (pt_inception-2015-12-05) state dict`,
        );
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new PipelineError('TENSOR_SHAPE', `${w.source}: tensor '${name}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
      }
      return t.data;
    };
    // Validate and fold everything first, so a bad file fails before any tensor is allocated.
    const folded: { spec: ConvSpec; filter: Float32Array; bias: Float32Array }[] = [];
    for (const spec of inceptionConvSpecs()) {
      const { cin, cout, kh, kw } = spec;
      const wt = get(`${spec.name}.conv.weight`, [cout, cin, kh, kw]);
      const gamma = get(`${spec.name}.bn.weight`, [cout]);
      const beta = get(`${spec.name}.bn.bias`, [cout]);
      const mean = get(`${spec.name}.bn.running_mean`, [cout]);
      const variance = get(`${spec.name}.bn.running_var`, [cout]);
      // Fold BN (inference statistics) into the convolution: W' = W·s, b' = β − μ·s, s = γ/√(σ²+ε).
      const filter = new Float32Array(kh * kw * cin * cout);
      const bias = new Float32Array(cout);
      for (let o = 0; o < cout; o++) {
        const scale = gamma[o]! / Math.sqrt(variance[o]! + BN_EPS);
        bias[o] = beta[o]! - mean[o]! * scale;
        for (let i = 0; i < cin; i++) {
          for (let y = 0; y < kh; y++) {
            for (let x = 0; x < kw; x++) filter[((y * kw + x) * cin + i) * cout + o] = wt[((o * cin + i) * kh + y) * kw + x]! * scale;
          }
        }
      }
      folded.push({ spec, filter, bias });
    }
    const fc = get('fc.weight', [LOGIT_CLASSES, POOL_DIM]);
    const convs = new Map<string, FoldedConv>();
    for (const f of folded) {
      const { kh, kw, cin, cout } = f.spec;
      convs.set(f.spec.name, { filter: tf.tensor4d(f.filter, [kh, kw, cin, cout]), bias: tf.tensor1d(f.bias), spec: f.spec });
    }
    const fcT = tf.tidy(() => tf.transpose<tf.Tensor2D>(tf.tensor2d(fc, [LOGIT_CLASSES, POOL_DIM])));
    return new FidInception(convs, fcT, w.digest, w.source);
  }

  /** A randomly initialised network: only when the caller explicitly accepts unpublished provenance. */
  static randomlyInitialised(seed: number): FidInception {
    return FidInception.fromWeights({
      tensors: randomInceptionTensors(seed),
      digest: `random-init:seed=${seed}`,
      source: `random initialisation (seed ${seed})`,
    });
  }

  dispose(): void {
    for (const c of this.convs.values()) {
      c.filter.dispose();
      c.bias.dispose();
    }
    this.fcT.dispose();
  }

  private conv(name: string, x: tf.Tensor4D, stride = 1, pad: 'valid' | 'same' = 'valid'): tf.Tensor4D {
    const c = this.convs.get(name);
    if (!c) throw new PipelineError('INTERNAL', `inception: no convolution '${name}'`);
    let input = x;
    if (pad === 'same' && (c.spec.kh > 1 || c.spec.kw > 1)) {
      // Symmetric padding of (k−1)/2, as the PyTorch port uses (all such kernels are odd, stride 1).
      const ph = (c.spec.kh - 1) / 2;
      const pw = (c.spec.kw - 1) / 2;
      input = tf.pad(x, [
        [0, 0],
        [ph, ph],
        [pw, pw],
        [0, 0],
      ]);
    }
    return tf.fused.conv2d({ x: input, filter: c.filter, strides: stride, pad: 'valid', bias: c.bias, activation: 'relu' });
  }

  private blockA(n: string, x: tf.Tensor4D): tf.Tensor4D {
    const b1 = this.conv(`${n}.branch1x1`, x);
    const b5 = this.conv(`${n}.branch5x5_2`, this.conv(`${n}.branch5x5_1`, x), 1, 'same');
    const b3 = this.conv(`${n}.branch3x3dbl_3`, this.conv(`${n}.branch3x3dbl_2`, this.conv(`${n}.branch3x3dbl_1`, x), 1, 'same'), 1, 'same');
    const bp = this.conv(`${n}.branch_pool`, tf.avgPool(x, 3, 1, 'same'));
    return tf.concat([b1, b5, b3, bp], 3);
  }

  private blockC(n: string, x: tf.Tensor4D): { out: tf.Tensor4D; branch1x1: tf.Tensor4D } {
    const b1 = this.conv(`${n}.branch1x1`, x);
    let b7 = this.conv(`${n}.branch7x7_1`, x);
    b7 = this.conv(`${n}.branch7x7_3`, this.conv(`${n}.branch7x7_2`, b7, 1, 'same'), 1, 'same');
    let bd = this.conv(`${n}.branch7x7dbl_1`, x);
    for (const k of [2, 3, 4, 5]) bd = this.conv(`${n}.branch7x7dbl_${k}`, bd, 1, 'same');
    const bp = this.conv(`${n}.branch_pool`, tf.avgPool(x, 3, 1, 'same'));
    return { out: tf.concat([b1, b7, bd, bp], 3), branch1x1: b1 };
  }

  private blockE(n: string, x: tf.Tensor4D, maxPoolBranch: boolean): tf.Tensor4D {
    const b1 = this.conv(`${n}.branch1x1`, x);
    const t = this.conv(`${n}.branch3x3_1`, x);
    const b3 = tf.concat([this.conv(`${n}.branch3x3_2a`, t, 1, 'same'), this.conv(`${n}.branch3x3_2b`, t, 1, 'same')], 3);
    const u = this.conv(`${n}.branch3x3dbl_2`, this.conv(`${n}.branch3x3dbl_1`, x), 1, 'same');
    const bd = tf.concat([this.conv(`${n}.branch3x3dbl_3a`, u, 1, 'same'), this.conv(`${n}.branch3x3dbl_3b`, u, 1, 'same')], 3);
    // The 2015 graph's last block pools with max, not average (a quirk the FID port keeps).
    const pooled = maxPoolBranch ? tf.maxPool(x, 3, 1, 'same') : tf.avgPool(x, 3, 1, 'same');
    const bp = this.conv(`${n}.branch_pool`, pooled);
    return tf.concat([b1, b3, bd, bp], 3);
  }

  /** TF1 legacy bilinear resize to 299 and the graph's (x − 128)/128 scaling. */
  preprocess(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const x = images.toFloat();
      const [, h, w] = x.shape;
      const resized = h === INPUT_SIZE && w === INPUT_SIZE ? x : tf.image.resizeBilinear(x, [INPUT_SIZE, INPUT_SIZE], false, false);
      return tf.mul(tf.sub(resized, 128), 0.0078125);
    });
  }

  /**
   * Runs the network on already-preprocessed 299×299 inputs (values in [−1, 1)).
   * Each step keeps only its output: one tidy over the whole graph held every activation to the end,
   * about 74 MB per image, which ran tfjs-wasm's 4 GiB heap out past ~50 images — and its kernels
   * fault ("memory access out of bounds" in FusedConv2D) instead of reporting the failed allocation.
   */
  forwardPreprocessed(x: tf.Tensor4D): InceptionOutputs {
    return tf.tidy(() => {
      let h = x;
      const step = (f: (t: tf.Tensor4D) => tf.Tensor4D): void => {
        const prev = h;
        h = tf.tidy(() => f(prev));
        if (prev !== x) prev.dispose();
      };
      step((t) => this.conv('Conv2d_1a_3x3', t, 2));
      step((t) => this.conv('Conv2d_2a_3x3', t));
      step((t) => this.conv('Conv2d_2b_3x3', t, 1, 'same'));
      step((t) => tf.maxPool(t, 3, 2, 'valid'));
      step((t) => this.conv('Conv2d_3b_1x1', t));
      step((t) => this.conv('Conv2d_4a_3x3', t));
      step((t) => tf.maxPool(t, 3, 2, 'valid'));
      step((t) => this.blockA('Mixed_5b', t));
      step((t) => this.blockA('Mixed_5c', t));
      step((t) => this.blockA('Mixed_5d', t));
      // Mixed_6a (reduction)
      step((t) => {
        const b3 = this.conv('Mixed_6a.branch3x3', t, 2);
        const bd = this.conv('Mixed_6a.branch3x3dbl_3', this.conv('Mixed_6a.branch3x3dbl_2', this.conv('Mixed_6a.branch3x3dbl_1', t), 1, 'same'), 2);
        return tf.concat([b3, bd, tf.maxPool(t, 3, 2, 'valid')], 3);
      });
      step((t) => this.blockC('Mixed_6b', t).out);
      step((t) => this.blockC('Mixed_6c', t).out);
      const n = x.shape[0];
      let spatial: tf.Tensor2D | undefined;
      step((t) => {
        const m6d = this.blockC('Mixed_6d', t);
        // [n, 17, 17, 192] -> first 7 channels -> [n, 17·17·7]; kept past this step's tidy.
        spatial = tf.keep(tf.reshape<tf.Rank.R2>(tf.slice(m6d.branch1x1, [0, 0, 0, 0], [n, 17, 17, 7]), [n, SPATIAL_DIM]));
        return m6d.out;
      });
      step((t) => this.blockC('Mixed_6e', t).out);
      // Mixed_7a (reduction)
      step((t) => {
        const b3 = this.conv('Mixed_7a.branch3x3_2', this.conv('Mixed_7a.branch3x3_1', t), 2);
        let b7 = this.conv('Mixed_7a.branch7x7x3_1', t);
        b7 = this.conv('Mixed_7a.branch7x7x3_3', this.conv('Mixed_7a.branch7x7x3_2', b7, 1, 'same'), 1, 'same');
        b7 = this.conv('Mixed_7a.branch7x7x3_4', b7, 2);
        return tf.concat([b3, b7, tf.maxPool(t, 3, 2, 'valid')], 3);
      });
      step((t) => this.blockE('Mixed_7b', t, false));
      step((t) => this.blockE('Mixed_7c', t, true));
      if (spatial === undefined) throw new PipelineError('INTERNAL', 'inception: Mixed_6d did not run');
      // [n, 8, 8, 2048] -> spatial mean -> [n, 2048]
      const pool = tf.reshape<tf.Rank.R2>(tf.mean(h, [1, 2]), [n, POOL_DIM]);
      const logits = tf.matMul<tf.Tensor2D>(pool, this.fcT);
      return { pool, spatial, logits };
    });
  }

  /** uint8-range NHWC images of any size → features. */
  forward(images: tf.Tensor4D): InceptionOutputs {
    if (images.shape[3] !== 3) throw new PipelineError('TENSOR_SHAPE', `inception: images must be N×H×W×3 (RGB), got [${images.shape.join(', ')}]`);
    const x = this.preprocess(images);
    try {
      return this.forwardPreprocessed(x);
    } finally {
      x.dispose();
    }
  }
}
