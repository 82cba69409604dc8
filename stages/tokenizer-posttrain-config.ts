/**
 * Config and I/O of the `tokenizer.posttrain` stage kind (pure). Defaults are the paper's post-train
 * values (dossier §1.3, §8): 100 epochs, lr 5e-5 for both networks without batch scaling, cosine to
 * 1e-5, a fresh discriminator on from step 0, no latent perturbation, EMA continued, no clipping.
 *
 * `trainable` chooses what is fine-tuned. `upstream` (default) reproduces the released code: only the
 * encoder's ViT backbone is frozen, so latent tokens, level embedding, quant_conv and the codebook still
 * train. `decoder` is the paper's wording taken strictly: the whole encoder side, quant_conv and the
 * codebook are frozen, so token ids of a given image cannot drift and the generator's tokens keep their
 * meaning.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';
import { discriminatorBlock, emaBlock, lossesBlock, lossNetworkInputs, optimizerBlock, semanticTeacherField, validationBlock } from './tokenizer-config-blocks';

const nonneg = z.number().nonnegative();

export const tokenizerPosttrainConfigSchema = z.strictObject({
  batchSize: z.number().int().min(1).default(1024),
  epochs: z.number().int().min(1).default(100),
  maxSteps: z.number().int().nonnegative().default(0),
  /** Sub-folder of the `dataset` input holding the real images of the pairs (when present). */
  pairSplit: z.string().default('train'),
  /** Sub-folder of the `dataset` input used for validation (reconstruction of real images), when present. */
  valSplit: z.string().default('val'),
  skipCorrupt: z.boolean().default(false),
  trainable: z.enum(['upstream', 'decoder']).default('upstream'),
  /**
   * Pairs kept out of training (the last N in listing order) to measure what post-training is for:
   * the reconstruction error of generated → real on unseen pairs, before and after (0 = train on all,
   * as upstream).
   */
  heldOutPairs: z.number().int().nonnegative().default(0),
  /** Which weights of the main-train artifact initialise the trained model (upstream: `model`; its `ema` seeds the EMA). */
  init: z.enum(['model', 'ema']).default('model'),
  optimizer: optimizerBlock({ lr: 5e-5, scaleLrByBatch: false, minLr: 1e-5, warmupEpochs: 1 }),
  /** Upstream post-training does not clip (the same argparse collision as main-train); 0 = off. */
  maxGradNorm: nonneg.default(0),
  ema: emaBlock,
  losses: lossesBlock,
  semanticTeacher: semanticTeacherField,
  discriminator: discriminatorBlock({ startEpoch: 0, lr: 5e-5, scaleLrByBatch: false, minLr: 1e-5, warmupEpochs: 2 }),
  validation: validationBlock,
  logEvery: z.number().int().min(1).default(10),
});

export type TokenizerPosttrainConfig = z.output<typeof tokenizerPosttrainConfigSchema>;

export const tokenizerPosttrainDescriptor: StageDescriptor<TokenizerPosttrainConfig> = {
  kind: 'tokenizer.posttrain',
  // 2: the adaptive GAN weight is taken from the main pass (models/training/last-layer-grad.ts)
  // 3: the fresh discriminator's trunc-normal inits bounded at ±2 absolute, as PyTorch's (were ±2 std);
  //    hand-written LayerNorm/GELU gradients (equal to autodiff's up to float32 rounding)
  // 4: native backend: LayerNorm, bias, softmax and GELU through TensorFlow's fused oneDNN kernels
  //    (models/layers/native-fused.ts; float32 rounding); running steps as graphs changes no bit
  // 5: native backend: GELU forward and backward as our op library's one-kernel GELU (compute/native-ops.ts): float32 rounding
  // 6: native backend: Linear layers' x·wᵀ + b as one kernel (our op library's RobustokMatMulBias): float32 rounding
  version: '6',
  description: 'RobusTok decoder post-training on σ-paired data: encode the generated image, reconstruct the real one (dossier §8).',
  configSchema: tokenizerPosttrainConfigSchema,
  inputs: (c) => {
    const required = ['tokenizer', 'pairs', 'dataset'];
    required.push(...lossNetworkInputs(c));
    return { required, optional: ['fidWeights'] };
  },
  outputs: () => ['tokenizer', 'metrics'],
};
