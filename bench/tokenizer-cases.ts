/**
 * The tokenizer bench's workloads, shared by our side (bench/tokenizer-ours.ts, in a child process per
 * thread count) and described to the PyTorch port (bench/torch/tokenizer_bench.py) as plain JSON:
 *
 *   train   one main-training step without the GAN/perceptual/semantic terms: forward (training,
 *           drop-path, latent perturbation) + MSE + codebook + commit loss, backward, AdamW update
 *   encode  images → code ids (`encodeCodes`, what pretokenize runs), no gradient
 *
 * Weights and images are random: the work per step does not depend on their values.
 */
import * as tf from '@tensorflow/tfjs';
import { withDeferredExecution } from '../compute/deferred-execution';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { parseTokenizerConfig, type TokenizerConfigInput } from '../models/tokenizer-config';
import { AdamW } from '../models/training/adamw';
import { disposeGrads, namedGrads } from '../models/training/grads';
import { Rng } from '../models/training/rng';

export interface TokenizerSize {
  label: string;
  batch: number;
  /** Keys of models/tokenizer-config.ts; the port reads the same keys. */
  model: Required<
    Pick<
      TokenizerConfigInput,
      | 'image_size'
      | 'patch_size'
      | 'width'
      | 'depth'
      | 'num_heads'
      | 'mlp_ratio'
      | 'codebook_size'
      | 'codebook_embed_dim'
      | 'num_latent_tokens'
      | 'drop_path_rate'
      | 'layer_scale_init'
      | 'commit_loss_beta'
    >
  >;
}

export interface TokenizerCaseSpec {
  kind: 'train' | 'encode';
  name: string;
  size: TokenizerSize;
  /** Latent perturbation of the train step (α, β, δ as models/latent-perturbation.ts). */
  perturbation: { alpha: number; beta: number; delta: number };
  /** The generator optimizer of tokenizer.train's defaults. */
  adamw: { lr: number; beta1: number; beta2: number; weightDecay: number };
  /** `graph`: each step (train) or batch (encode) under withDeferredExecution (compute/deferred-execution.ts). */
  exec?: 'eager' | 'graph';
}

function size(
  label: string,
  batch: number,
  imageSize: number,
  patch: number,
  width: number,
  depth: number,
  heads: number,
  K: number,
  D: number,
): TokenizerSize {
  const grid = imageSize / patch;
  return {
    label,
    batch,
    model: {
      image_size: imageSize,
      patch_size: patch,
      width,
      depth,
      num_heads: heads,
      mlp_ratio: 4,
      codebook_size: K,
      codebook_embed_dim: D,
      num_latent_tokens: grid * grid,
      drop_path_rate: 0.1,
      layer_scale_init: 1e-5,
      commit_loss_beta: 0.25,
    },
  };
}

export const TOKENIZER_SIZES = {
  smoke: size('smoke 32px p4 w64 d2 K256x16 B32', 32, 32, 4, 64, 2, 2, 256, 16),
  mid: size('mid 64px p8 w256 d4 K1024x32 B16', 16, 64, 8, 256, 4, 4, 1024, 32),
} as const;

export function tokenizerCases(): TokenizerCaseSpec[] {
  const perturbation = { alpha: 1, beta: 0.1, delta: 8 };
  const adamw = { lr: 1e-4, beta1: 0.9, beta2: 0.95, weightDecay: 0 };
  const out: TokenizerCaseSpec[] = [];
  for (const kind of ['train', 'encode'] as const) {
    for (const s of [TOKENIZER_SIZES.smoke, TOKENIZER_SIZES.mid]) out.push({ kind, name: `${kind} ${s.label}`, size: s, perturbation, adamw });
  }
  return out;
}

/**
 * Builds the model, optimizer and inputs of one case; `run` does one step and waits for its result.
 * `parameters` (train cases) are the trained variables, for tests that compare execution modes.
 */
export function oursTokenizerCase(c: TokenizerCaseSpec): { run: () => void; dispose: () => void; parameters?: Map<string, tf.Variable> } {
  const rng = Rng.fromSeed(1);
  const model = new RobustokTokenizer(parseTokenizerConfig(c.size.model), rng);
  const S = c.size.model.image_size;
  const images = tf.randomUniform([c.size.batch, 3, S, S], -1, 1, 'float32', 2); // NCHW in [-1, 1]
  if (c.kind === 'encode') {
    const encode = () => {
      const codes = model.encodeCodes(images);
      codes.dataSync();
      codes.dispose();
    };
    return {
      run: c.exec === 'graph' ? () => withDeferredExecution(encode) : encode,
      dispose: () => {
        images.dispose();
        model.dispose();
      },
    };
  }
  const params = model.trainableParameters();
  const opt = new AdamW(params, { lr: c.adamw.lr, beta1: c.adamw.beta1, beta2: c.adamw.beta2, weightDecay: c.adamw.weightDecay });
  const step = () => {
    const { loss, grads } = namedGrads(() => {
      const out = model.forward(images, { training: true, rng, perturbation: c.perturbation });
      return out.recon.sub(images).square().mean().add(out.codebookLoss).add<tf.Scalar>(out.commitLoss);
    }, params);
    opt.applyGradients(grads);
    disposeGrads(grads);
    loss.dataSync(); // the trainer reads the loss every step too
    loss.dispose();
  };
  return {
    run: c.exec === 'graph' ? () => withDeferredExecution(step) : step,
    parameters: params,
    dispose: () => {
      opt.dispose();
      images.dispose();
      model.dispose();
    },
  };
}
