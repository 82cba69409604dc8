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

const positive = z.number().positive();
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
  optimizer: z
    .strictObject({
      lr: positive.default(5e-5),
      scaleLrByBatch: z.boolean().default(false),
      minLr: nonneg.default(1e-5),
      warmupEpochs: nonneg.default(1),
      warmupLr: nonneg.default(1e-5),
      beta1: positive.default(0.9),
      beta2: positive.default(0.95),
      weightDecay: nonneg.default(0),
    })
    .prefault({}),
  /** Upstream post-training does not clip (the same argparse collision as main-train); 0 = off. */
  maxGradNorm: nonneg.default(0),
  ema: z.strictObject({ decay: z.number().min(0).max(1).default(0.9999) }).prefault({}),
  losses: z
    .strictObject({
      reconstructionWeight: nonneg.default(1),
      perceptualWeight: nonneg.default(1),
      perceptualDropout: z.boolean().default(false),
      semanticWeight: nonneg.default(0.1),
    })
    .prefault({}),
  semanticTeacher: z.enum(['dinov2', 'small', 'none']).default('dinov2'),
  discriminator: z
    .strictObject({
      kind: z.enum(['dino', 'conv', 'none']).default('dino'),
      startEpoch: nonneg.default(0),
      weight: nonneg.default(0.5),
      adaptiveWeight: z.boolean().default(true),
      lecamWeight: nonneg.default(0.001),
      lr: positive.default(5e-5),
      scaleLrByBatch: z.boolean().default(false),
      minLr: nonneg.default(1e-5),
      warmupEpochs: nonneg.default(2),
      warmupLr: nonneg.default(1e-5),
      weightDecay: nonneg.default(5e-4),
      diffAug: z.boolean().default(true),
    })
    .prefault({}),
  validation: z
    .strictObject({
      every: z.number().int().nonnegative().default(10000),
      maxImages: z.number().int().nonnegative().default(0),
      selectBy: z.enum(['psnr', 'ssim', 'rfid', 'last']).default('last'),
      batchSize: z.number().int().min(1).default(32),
    })
    .prefault({}),
  logEvery: z.number().int().min(1).default(10),
});

export type TokenizerPosttrainConfig = z.output<typeof tokenizerPosttrainConfigSchema>;

export const tokenizerPosttrainDescriptor: StageDescriptor<TokenizerPosttrainConfig> = {
  kind: 'tokenizer.posttrain',
  version: '1',
  description: 'RobusTok decoder post-training on σ-paired data: encode the generated image, reconstruct the real one (dossier §8).',
  configSchema: tokenizerPosttrainConfigSchema,
  inputs: (c) => {
    const required = ['tokenizer', 'pairs', 'dataset'];
    if (c.losses.perceptualWeight > 0) required.push('lpips');
    if (c.losses.semanticWeight > 0 && c.semanticTeacher === 'dinov2') required.push('semantic');
    if (c.discriminator.kind === 'dino') required.push('discBackbone');
    return { required, optional: ['fidWeights'] };
  },
  outputs: () => ['tokenizer', 'metrics'],
};
