/**
 * Config and I/O of the `generator.train` stage kind (pure: the catalog imports it without loading tfjs).
 * Defaults are the RAR-B values of configs/generator/rar.yaml (dossier §1.4, §5); a smoke pipeline
 * overrides the sizes and scales the step counts (§11.2). Sequence length, codebook size and class count
 * come from the `tokens` input's manifest, not from here.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';

const nonneg = z.number().nonnegative();
const steps = z.number().int().nonnegative();

export const generatorTrainConfigSchema = z.strictObject({
  model: z
    .strictObject({
      /** Start from RAR-B / RAR-L sizes; the explicit fields below override it. */
      preset: z.enum(['rar-b', 'rar-l']).optional(),
      hiddenSize: z.number().int().positive().optional(),
      numLayers: z.number().int().positive().optional(),
      numHeads: z.number().int().positive().optional(),
      intermediateSize: z.number().int().positive().optional(),
      dropout: z.number().min(0).lt(1).default(0.1),
      attnDrop: z.number().min(0).lt(1).default(0.1),
      classLabelDropout: z.number().min(0).max(1).default(0.1),
    })
    .prefault({ preset: 'rar-b' }),
  /** Sequences per optimizer step (upstream: 64 per GPU × 32 = 2048). */
  batchSize: z.number().int().min(1).default(2048),
  /** Optimizer steps (upstream 250k ≈ 400 ImageNet epochs). */
  maxSteps: z.number().int().min(1).default(250_000),
  optimizer: z
    .strictObject({
      lr: z.number().positive().default(4e-4),
      beta1: z.number().min(0).lt(1).default(0.9),
      beta2: z.number().min(0).lt(1).default(0.96),
      weightDecay: nonneg.default(0.03),
      /** Linear warmup 0 → lr, then half-cosine to endLr at maxSteps. */
      warmupSteps: steps.default(62_500),
      endLr: nonneg.default(1e-5),
    })
    .prefault({}),
  maxGradNorm: nonneg.default(1.0),
  /** Probability of a random order per sample: 1 before `start`, linear to 0 at `end`, 0 after (steps). */
  randomnessAnneal: z.strictObject({ start: steps.default(125_000), end: steps.default(187_500) }).prefault({}),
  /** Record a history line every N steps (progress is reported every step). */
  logEvery: z.number().int().min(1).default(50),
});

export type GeneratorTrainConfig = z.output<typeof generatorTrainConfigSchema>;

export const generatorTrainDescriptor: StageDescriptor<GeneratorTrainConfig> = {
  kind: 'generator.train',
  // 2: trunc-normal inits bounded at ±2 absolute, as PyTorch's (were ±2 std: a 12% smaller spread);
  //    hand-written LayerNorm/GELU gradients (equal to autodiff's up to float32 rounding)
  // 3: native backend: LayerNorm, bias, softmax and GELU through TensorFlow's fused oneDNN kernels
  //    (models/layers/native-fused.ts; float32 rounding); running steps as graphs changes no bit
  // 4: native backend: GELU forward and backward as our op library's one-kernel GELU (compute/native-ops.ts): float32 rounding
  // 5: native backend: Linear layers' x·wᵀ + b as one kernel (our op library's RobustokMatMulBias): float32 rounding
  version: '5',
  description:
    'RAR class-conditional generator on pretokenized ids: randomized orders annealed to raster, label dropout, CE, AdamW + warmup-cosine (dossier §5).',
  configSchema: generatorTrainConfigSchema,
  inputs: () => ({ required: ['tokens'], optional: ['init'] }),
  outputs: () => ['generator', 'metrics'],
};
