/**
 * The RobusTok image tokenizer (upstream `VQModel` with ViT encoder/decoder, dossier §2.1–§2.3, §3):
 *
 *   images [B, 3, H, W] in [-1, 1]
 *     → encoder (ViT + L latent tokens) → [B, L, W] → [B, W, g, g] → quant_conv (1×1)  = latents [B, D, g, g]
 *     → l2-normalised VQ (nearest code, β-commitment, straight-through)                = quant, codes [B, L]
 *     → (training) latent perturbation of the first ⌊β·B⌋ samples
 *     → post_quant_conv (1×1) → [B, L, W] → decoder (mask tokens + ViT + to_pixel)    = recon [B, 3, H, W]
 *
 * Codes are in raster order (id index = row·g + col), the order RAR consumes. Parameter names are the
 * upstream state-dict names (encoder.model.blocks.0.attn.qkv.weight, quantize.embedding.weight,
 * quant_conv.weight [D, W, 1, 1], decoder.to_pixel.model.weight, …); tokenizer-artifact.ts loads
 * converted `main-train.pt` / `post-train.pt` entries, skipping upstream's buffers and teacher.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import type { Rng } from './training/rng';
import { Conv1x1 } from './layers/conv1x1';
import { assertShape, Module } from './layers/module';
import { straightThrough } from './layers/stop-gradient';
import { l2Normalize, oneHotF32, VectorQuantizer } from './layers/vector-quantizer';
import { checkPerturbation, perturbedCount, samplePerturbedCodes, type PerturbationParams } from './latent-perturbation';
import { RobustokDecoder } from './robustok-decoder';
import { RobustokEncoder } from './robustok-encoder';
import type { ForwardCall } from './robustok-vit';
import { parseTokenizerConfig, tokenizerConfigProblems, type TokenizerConfig } from './tokenizer-config';

export { tokenizerConfigSchema, type TokenizerConfig } from './tokenizer-config';

export interface TokenizerForwardOptions extends ForwardCall {
  /** Training only: perturb the first ⌊β·B⌋ samples (needs `rng`). */
  perturbation?: PerturbationParams;
  /** Also return `decoderFeatures` (the adaptive GAN weight reads the last layer's input). */
  withDecoderFeatures?: boolean;
}

export interface TokenizerForwardResult {
  /** [B, 3, H, W], unclamped. */
  recon: tf.Tensor;
  /** int32 [B, L], clean nearest-code ids, raster order. */
  codes: tf.Tensor;
  /** [B, D, g, g] after quant_conv, before normalisation/quantisation. */
  latents: tf.Tensor;
  /** [B, D, g, g] what the decoder saw (perturbed for the β subset), straight-through to the encoder. */
  quant: tf.Tensor;
  /** mean((zq − sg(zn))²) of the clean assignment. */
  codebookLoss: tf.Scalar;
  /** β_commit · mean((sg(zq) − zn)²) of the clean assignment. */
  commitLoss: tf.Scalar;
  /**
   * int32 scalar, only when the call perturbed tokens: how many ids the perturbation changed (a tensor, so a
   * training step reads it with its losses instead of stopping mid-step to count on the host).
   */
  replaced?: tf.Scalar;
  /** [B, N, W] the decoder's to_pixel input; only with `withDecoderFeatures` (the caller disposes it). */
  decoderFeatures?: tf.Tensor;
}

export class RobustokTokenizer extends Module {
  readonly config: TokenizerConfig;
  readonly gridSize: number;
  readonly numTokens: number;
  readonly encoder: RobustokEncoder;
  readonly quantConv: Conv1x1;
  readonly quantize: VectorQuantizer;
  readonly postQuantConv: Conv1x1;
  readonly decoder: RobustokDecoder;

  constructor(config: TokenizerConfig, rng: Rng) {
    super();
    const problems = tokenizerConfigProblems(config);
    if (problems.length > 0) parseTokenizerConfig(config); // throws CONFIG_INVALID listing them
    this.config = config;
    this.gridSize = config.image_size / config.patch_size;
    this.numTokens = this.gridSize * this.gridSize;
    const D = config.codebook_embed_dim;
    // registration order = upstream's module order (encoder, quant_conv, decoder, post_quant_conv, quantize)
    this.encoder = this.module('encoder', new RobustokEncoder(config, rng));
    this.quantConv = this.module('quant_conv', new Conv1x1({ inChannels: config.width, outChannels: D, rng }));
    this.decoder = this.module('decoder', new RobustokDecoder(config, rng));
    this.postQuantConv = this.module('post_quant_conv', new Conv1x1({ inChannels: D, outChannels: config.width, rng }));
    this.quantize = this.module('quantize', new VectorQuantizer({ codebookSize: config.codebook_size, dim: D, beta: config.commit_loss_beta, rng }));
  }

  /** images NCHW float32 in [-1, 1] → latents [B, D, g, g] after quant_conv (before quantisation). */
  encode(images: tf.Tensor, opts: ForwardCall = {}): tf.Tensor {
    const { image_size: S } = this.config;
    assertShape(images, [null, 3, S, S], 'RobustokTokenizer images (NCHW in [-1, 1])');
    const g = this.gridSize;
    return tf.tidy(() => {
      const h = this.encoder.forward(images, opts); // [B, L, W]
      const z = this.quantConv.forwardTokens(h); // [B, L, W] -> [B, L, D]
      return z.reshape([images.shape[0], g, g, this.config.codebook_embed_dim]).transpose([0, 3, 1, 2]); // [B, L, D] -> [B, g, g, D] -> [B, D, g, g]
    });
  }

  /** Full pass (see TokenizerForwardResult); perturbation per §3 when `opts.perturbation` is given. */
  forward(images: tf.Tensor, opts: TokenizerForwardOptions = {}): TokenizerForwardResult {
    const B = images.shape[0];
    const { gridSize: g, numTokens: L } = this;
    const D = this.config.codebook_embed_dim;
    const p = opts.perturbation;
    const nPert = p ? perturbedCount(B, p.beta) : 0;
    if (p) checkPerturbation(p, this.config.codebook_size);
    if (nPert > 0 && !opts.rng) throw new PipelineError('INTERNAL', 'RobustokTokenizer.forward: perturbation needs opts.rng');
    return tf.tidy(() => {
      const latents = this.encode(images, opts); // [B, D, g, g]
      const z = latents.transpose([0, 2, 3, 1]); // [B, D, g, g] -> [B, g, g, D]
      const q = this.quantize.forward(z); // zq [B, g, g, D], indices [B, g, g]
      const codes = q.indices.reshape([B, L]); // [B, g, g] -> [B, L] raster
      let zq = q.zq;
      let replaced: tf.Scalar | undefined;
      if (p && nPert > 0) {
        const zn = l2Normalize(z.slice([0, 0, 0, 0], [nPert, g, g, D]).reshape([nPert * L, D])); // [n, g, g, D] -> [n·L, D]
        const cb = this.quantize.normalizedCodebook(); // [K, D]
        const ids = samplePerturbedCodes(zn, cb, p, opts.rng as Rng); // int32 [n·L]
        const clean = codes.slice([0, 0], [nPert, L]).reshape([nPert * L]); // [n, L] -> [n·L]
        replaced = ids.notEqual(clean).cast('int32').sum<tf.Scalar>();
        // one-hot matmul rather than gather: its backward runs on every backend (see vector-quantizer.ts)
        const pert = tf.matMul(oneHotF32(ids, this.config.codebook_size), cb); // [n·L, K] x [K, D] -> [n·L, D]
        const pertSt = straightThrough(zn, pert).reshape([nPert, g, g, D]); // [n·L, D] -> [n, g, g, D]
        zq = nPert === B ? pertSt : tf.concat([pertSt, zq.slice([nPert, 0, 0, 0], [B - nPert, g, g, D])], 0); // [B, g, g, D]
      }
      const quant = zq.transpose([0, 3, 1, 2]); // [B, g, g, D] -> [B, D, g, g]
      const { recon, features } = this.decodeWithFeatures(quant, opts);
      const kept = { recon, codes, latents, quant, codebookLoss: q.codebookLoss, commitLoss: q.commitLoss, ...(replaced ? { replaced } : {}) };
      return opts.withDecoderFeatures ? { ...kept, decoderFeatures: features } : kept;
    });
  }

  /** quant [B, D, g, g] (unit-norm codes) → recon [B, 3, H, W], unclamped. */
  decode(quant: tf.Tensor, opts: ForwardCall = {}): tf.Tensor {
    const { recon, features } = this.decodeWithFeatures(quant, opts);
    features.dispose();
    return recon;
  }

  /** decode, also returning the to_pixel input features [B, N, W]. */
  decodeWithFeatures(quant: tf.Tensor, opts: ForwardCall = {}): { recon: tf.Tensor; features: tf.Tensor } {
    const g = this.gridSize;
    assertShape(quant, [null, this.config.codebook_embed_dim, g, g], 'RobustokTokenizer.decode quant');
    return tf.tidy(() => {
      const tokens = this.postQuantConv.forwardTokens(
        quant.transpose([0, 2, 3, 1]).reshape([quant.shape[0], this.numTokens, this.config.codebook_embed_dim]), // [B, D, g, g] -> [B, g, g, D] -> [B, L, D]
      ); // -> [B, L, W]
      return this.decoder.forwardWithFeatures(tokens, opts);
    });
  }

  /** ids int32 [B, L] → unit-norm code vectors [B, D, g, g] (upstream get_codebook_entry, channel-first). */
  codebookEntry(codes: tf.Tensor): tf.Tensor {
    assertShape(codes, [null, this.numTokens], 'RobustokTokenizer codes');
    if (codes.dtype !== 'int32') throw new PipelineError('TENSOR_SHAPE', `RobustokTokenizer codes must be int32, got ${codes.dtype}`);
    const g = this.gridSize;
    return tf.tidy(() => {
      const K = this.config.codebook_size;
      const flat = codes.reshape([-1]); // [B, L] -> [B·L]
      const bad = tf.logicalOr(flat.less(0), flat.greaterEqual(K)).any().dataSync()[0];
      if (bad) throw new PipelineError('TENSOR_SHAPE', `RobustokTokenizer codes must be ids in [0, ${K}) (codebook_size)`);
      // one-hot matmul: the same arithmetic as the quantizer's zq, so decodeCodes(codes) reproduces forward's recon bit for bit
      const v = tf.matMul(oneHotF32(flat, K), this.quantize.normalizedCodebook()); // [B·L, K] x [K, D] -> [B·L, D]
      return v.reshape([codes.shape[0], g, g, this.config.codebook_embed_dim]).transpose([0, 3, 1, 2]); // -> [B, g, g, D] -> [B, D, g, g]
    });
  }

  /** ids int32 [B, L] → recon [B, 3, H, W] (unclamped). */
  decodeCodes(codes: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.decode(this.codebookEntry(codes)));
  }

  /** images → int32 [B, L] nearest-code ids (raster order). */
  encodeCodes(images: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const z = this.encode(images).transpose([0, 2, 3, 1]); // [B, D, g, g] -> [B, g, g, D]
      const q = this.quantize.forward(z);
      return q.indices.reshape([images.shape[0], this.numTokens]); // [B, g, g] -> [B, L]
    });
  }

  /** The decoder's to_pixel weight: the layer the adaptive GAN weight differentiates against. */
  lastLayer(): tf.Variable {
    return this.decoder.toPixel.model.weight;
  }

  /** Teacher CLS features [B, W] → quant_conv → [B, D] (the semantic target, §2.4). */
  projectSemantic(feat: tf.Tensor): tf.Tensor {
    assertShape(feat, [null, this.config.width], 'RobustokTokenizer.projectSemantic features');
    return this.quantConv.forwardTokens(feat);
  }

  /** Parameters post-training freezes: the encoder's ViT backbone only (§2.6, §8). */
  encoderBackboneParameterNames(): string[] {
    return this.encoder.backboneParameterNames('encoder.');
  }
}
