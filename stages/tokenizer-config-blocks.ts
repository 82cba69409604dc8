/**
 * Config blocks shared by `tokenizer.train` and `tokenizer.posttrain` (pure zod). The two kinds differ
 * only in defaults (main-train vs post-train values of dossier §1.2–§1.3), so the blocks are built by
 * functions taking those defaults.
 */
import { z } from 'zod';

const positive = z.number().positive();
const nonneg = z.number().nonnegative();

export interface OptimizerDefaults {
  lr: number;
  scaleLrByBatch: boolean;
  minLr: number;
  warmupEpochs: number;
}

/** AdamW of the tokenizer: base lr (× batch/128 when scaleLrByBatch), timm cosine per epoch with warmup. */
export function optimizerBlock(d: OptimizerDefaults) {
  return z
    .strictObject({
      lr: positive.default(d.lr),
      scaleLrByBatch: z.boolean().default(d.scaleLrByBatch),
      minLr: nonneg.default(d.minLr),
      warmupEpochs: nonneg.default(d.warmupEpochs),
      warmupLr: nonneg.default(1e-5),
      beta1: positive.default(0.9),
      beta2: positive.default(0.95),
      weightDecay: nonneg.default(0),
    })
    .prefault({});
}

export const emaBlock = z.strictObject({ decay: z.number().min(0).max(1).default(0.9999) }).prefault({});

export const lossesBlock = z
  .strictObject({
    reconstructionWeight: nonneg.default(1),
    /** LPIPS-VGG16 weight; needs the `lpips` input unless 0. */
    perceptualWeight: nonneg.default(1),
    /** Reproduce upstream's dropout-in-train LPIPS (its `vq_loss.train()` switches LPIPS' dropout on). */
    perceptualDropout: z.boolean().default(false),
    /** Semantic InfoNCE weight against a frozen teacher; 0 turns it off. */
    semanticWeight: nonneg.default(0.1),
  })
  .prefault({});

/** Frozen semantic teacher: DINOv2 ViT-B from the `semantic` input, a small random frozen network (smoke), or none. */
export const semanticTeacherField = z.enum(['dinov2', 'small', 'none']).default('dinov2');

export interface DiscriminatorDefaults {
  startEpoch: number;
  lr: number;
  scaleLrByBatch: boolean;
  minLr: number;
  warmupEpochs: number;
}

export function discriminatorBlock(d: DiscriminatorDefaults) {
  return z
    .strictObject({
      /** dino: heads over a frozen DINO ViT-S from the `discBackbone` input; conv: small trainable conv net (smoke); none: no GAN. */
      kind: z.enum(['dino', 'conv', 'none']).default('dino'),
      /** Epoch at which the GAN terms switch on. */
      startEpoch: nonneg.default(d.startEpoch),
      weight: nonneg.default(0.5),
      adaptiveWeight: z.boolean().default(true),
      lecamWeight: nonneg.default(0.001),
      lr: positive.default(d.lr),
      scaleLrByBatch: z.boolean().default(d.scaleLrByBatch),
      minLr: nonneg.default(d.minLr),
      warmupEpochs: nonneg.default(d.warmupEpochs),
      warmupLr: nonneg.default(1e-5),
      weightDecay: nonneg.default(5e-4),
      diffAug: z.boolean().default(true),
    })
    .prefault({});
}

export const validationBlock = z
  .strictObject({
    /** Validate every N optimizer steps, before the first and at the end (0 = only at the end). */
    every: z.number().int().nonnegative().default(10000),
    /** At most this many validation images (0 = all). */
    maxImages: z.number().int().nonnegative().default(0),
    /** Which metric picks the checkpoint kept as the `tokenizer` output (last = no selection). */
    selectBy: z.enum(['psnr', 'ssim', 'rfid', 'last']).default('last'),
    batchSize: z.number().int().min(1).default(32),
  })
  .prefault({});

/** Inputs both kinds need for the loss networks their config turns on. */
export function lossNetworkInputs(c: {
  losses: { perceptualWeight: number; semanticWeight: number };
  semanticTeacher: string;
  discriminator: { kind: string };
}): string[] {
  const out: string[] = [];
  if (c.losses.perceptualWeight > 0) out.push('lpips');
  if (c.losses.semanticWeight > 0 && c.semanticTeacher === 'dinov2') out.push('semantic');
  if (c.discriminator.kind === 'dino') out.push('discBackbone');
  return out;
}
