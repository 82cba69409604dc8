/**
 * Config and I/O of the `tokenizer.train` stage kind (pure: the catalog imports it without loading tfjs).
 * Defaults are the paper's main-train values (dossier §1.2, §2.5, §3); the smoke pipeline overrides the
 * sizes. Two deliberate departures from the released code, each with an explicit switch:
 *   - gradient clipping: upstream declares `max_grad_norm` twice and argparse keeps 0.0, so clipping is
 *     silently off there; we clip at `maxGradNorm` (1.0) — set 0 to reproduce upstream numbers;
 *   - LPIPS dropout: upstream's `vq_loss.train()` leaves LPIPS' dropout 0.5 on; we evaluate LPIPS
 *     without dropout — `perceptual.dropout: true` reproduces upstream.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';

const positive = z.number().positive();
const nonneg = z.number().nonnegative();

/** The model block is validated by models/tokenizer-config.ts when the stage runs (it needs no tfjs). */
const modelConfig = z.record(z.string(), z.unknown()).default({});

export const tokenizerTrainConfigSchema = z.strictObject({
  /** Tokenizer architecture (upstream ModelArgs names + image_size, patch_size, width, depth, num_heads, mlp_ratio). */
  model: modelConfig,
  /** Images per optimizer step (upstream: 128 per GPU × 8 = 1024). */
  batchSize: z.number().int().min(1).default(1024),
  /** Epochs over the training split (upstream 200). */
  epochs: z.number().int().min(1).default(200),
  /** Stop after this many optimizer steps even if epochs remain (0 = run all epochs). */
  maxSteps: z.number().int().nonnegative().default(0),
  /** Sub-folder of the dataset input used for training / validation when present (dataset.synthetic writes train/ and val/). */
  trainSplit: z.string().default('train'),
  valSplit: z.string().default('val'),
  /** Skip undecodable images with a warning instead of failing the stage. */
  skipCorrupt: z.boolean().default(false),
  optimizer: z
    .strictObject({
      /** Base generator lr; multiplied by batchSize/128 when scaleLrByBatch (upstream main-train). */
      lr: positive.default(3e-5),
      scaleLrByBatch: z.boolean().default(true),
      minLr: nonneg.default(5e-5),
      warmupEpochs: nonneg.default(1),
      warmupLr: nonneg.default(1e-5),
      beta1: positive.default(0.9),
      beta2: positive.default(0.95),
      weightDecay: nonneg.default(0),
    })
    .prefault({}),
  /** Global-norm gradient clipping of both networks; 0 = off (what the released code does by accident). */
  maxGradNorm: nonneg.default(1.0),
  ema: z.strictObject({ decay: z.number().min(0).max(1).default(0.9999) }).prefault({}),
  losses: z
    .strictObject({
      reconstructionWeight: nonneg.default(1),
      /** LPIPS-VGG16 weight; needs the `lpips` input unless 0. */
      perceptualWeight: nonneg.default(1),
      /** Reproduce upstream's dropout-in-train LPIPS (see the header). */
      perceptualDropout: z.boolean().default(false),
      /** Semantic InfoNCE weight against a frozen teacher; 0 turns it off. */
      semanticWeight: nonneg.default(0.1),
    })
    .prefault({}),
  /** Frozen semantic teacher: DINOv2 ViT-B from the `semantic` input, a small random frozen ViT (smoke), or none. */
  semanticTeacher: z.enum(['dinov2', 'small', 'none']).default('dinov2'),
  discriminator: z
    .strictObject({
      /** dino: heads over a frozen DINO ViT-S from the `discBackbone` input; conv: small trainable conv net (smoke); none: no GAN. */
      kind: z.enum(['dino', 'conv', 'none']).default('dino'),
      /** Epoch at which the GAN terms switch on (upstream 56). */
      startEpoch: nonneg.default(56),
      weight: nonneg.default(0.5),
      adaptiveWeight: z.boolean().default(true),
      lecamWeight: nonneg.default(0.001),
      lr: positive.default(1e-4),
      scaleLrByBatch: z.boolean().default(true),
      minLr: nonneg.default(5e-5),
      warmupEpochs: nonneg.default(4),
      warmupLr: nonneg.default(1e-5),
      weightDecay: nonneg.default(5e-4),
      diffAug: z.boolean().default(true),
    })
    .prefault({}),
  /** Latent perturbation (dossier §3): α, β, δ and their per-epoch anneal. */
  perturbation: z
    .strictObject({
      alpha: z.number().min(0).max(1).default(1),
      beta: z.number().min(0).max(1).default(0.1),
      delta: z.number().int().min(1).default(100),
      annealStart: nonneg.default(40),
      annealEnd: nonneg.default(120),
      endRatio: z.number().min(0).max(1).default(0.5),
    })
    .prefault({}),
  validation: z
    .strictObject({
      /** Validate every N optimizer steps and at the end (0 = only at the end). */
      every: z.number().int().nonnegative().default(10000),
      /** At most this many validation images (0 = all). */
      maxImages: z.number().int().nonnegative().default(0),
      /** Which metric picks the best checkpoint kept as the `tokenizer` output (last = no selection). */
      selectBy: z.enum(['psnr', 'ssim', 'rfid', 'last']).default('last'),
      batchSize: z.number().int().min(1).default(32),
    })
    .prefault({}),
  /** Log a heartbeat line every N steps (progress is reported every step). */
  logEvery: z.number().int().min(1).default(10),
});

export type TokenizerTrainConfig = z.output<typeof tokenizerTrainConfigSchema>;

export const tokenizerTrainDescriptor: StageDescriptor<TokenizerTrainConfig> = {
  kind: 'tokenizer.train',
  version: '1',
  description: 'RobusTok tokenizer main training: ViT VQ tokenizer with latent perturbation, L2 + LPIPS + VQ + semantic InfoNCE + hinge GAN (dossier §2–§3).',
  configSchema: tokenizerTrainConfigSchema,
  inputs: (c) => {
    const required = ['dataset'];
    if (c.losses.perceptualWeight > 0) required.push('lpips');
    if (c.losses.semanticWeight > 0 && c.semanticTeacher === 'dinov2') required.push('semantic');
    if (c.discriminator.kind === 'dino') required.push('discBackbone');
    return { required, optional: ['init', 'fidWeights'] };
  },
  outputs: () => ['tokenizer', 'metrics'],
};
