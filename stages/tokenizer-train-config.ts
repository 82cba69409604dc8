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
import { tokenizerConfigSchema } from '../models/tokenizer-config';
import type { StageDescriptor } from './descriptor';
import { discriminatorBlock, emaBlock, lossesBlock, lossNetworkInputs, optimizerBlock, semanticTeacherField, validationBlock } from './tokenizer-config-blocks';

const nonneg = z.number().nonnegative();

/**
 * Kept as given (the stage fills the defaults with models/tokenizer-config.ts, which needs no tfjs), but
 * checked here too, so `validate` reports a bad model block or δ instead of a worker minutes later.
 */
const modelConfig = z.record(z.string(), z.unknown()).default({});

export const tokenizerTrainConfigSchema = z
  .strictObject({
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
    optimizer: optimizerBlock({ lr: 3e-5, scaleLrByBatch: true, minLr: 5e-5, warmupEpochs: 1 }),
    /** Global-norm gradient clipping of both networks; 0 = off (what the released code does by accident). */
    maxGradNorm: nonneg.default(1.0),
    ema: emaBlock,
    losses: lossesBlock,
    semanticTeacher: semanticTeacherField,
    discriminator: discriminatorBlock({ startEpoch: 56, lr: 1e-4, scaleLrByBatch: true, minLr: 5e-5, warmupEpochs: 4 }),
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
    validation: validationBlock,
    /** Log a heartbeat line every N steps (progress is reported every step). */
    logEvery: z.number().int().min(1).default(10),
  })
  .superRefine((c, ctx) => {
    const model = tokenizerConfigSchema.safeParse(c.model);
    if (!model.success) {
      for (const i of model.error.issues) ctx.addIssue({ code: 'custom', path: ['model', ...i.path.map(String)], message: i.message });
      return;
    }
    const K = model.data.codebook_size;
    if (c.perturbation.delta > K)
      ctx.addIssue({
        code: 'custom',
        path: ['perturbation', 'delta'],
        message: `delta ${c.perturbation.delta} exceeds codebook_size ${K}: scale δ with the codebook (the paper's 100 is ~2.4% of 4096)`,
      });
  });

export type TokenizerTrainConfig = z.output<typeof tokenizerTrainConfigSchema>;

export const tokenizerTrainDescriptor: StageDescriptor<TokenizerTrainConfig> = {
  kind: 'tokenizer.train',
  // 2: the adaptive GAN weight is taken from the main pass (models/training/last-layer-grad.ts)
  // 3: trunc-normal inits bounded at ±2 absolute, as PyTorch's (were ±2 std: a 12% smaller spread);
  //    hand-written LayerNorm/GELU gradients (equal to autodiff's up to float32 rounding)
  // 4: native backend: LayerNorm, bias, softmax and GELU through TensorFlow's fused oneDNN kernels
  //    (models/layers/native-fused.ts; float32 rounding); running steps as graphs changes no bit
  // 5: native backend: GELU forward and backward as our op library's one-kernel GELU (compute/native-ops.ts): float32 rounding
  // 6: native backend: Linear layers' x·wᵀ + b as one kernel (our op library's RobustokMatMulBias): float32 rounding
  version: '6',
  description: 'RobusTok tokenizer main training: ViT VQ tokenizer with latent perturbation, L2 + LPIPS + VQ + semantic InfoNCE + hinge GAN (dossier §2–§3).',
  configSchema: tokenizerTrainConfigSchema,
  inputs: (c) => {
    const required = ['dataset'];
    required.push(...lossNetworkInputs(c));
    return { required, optional: ['init', 'fidWeights'] };
  },
  outputs: () => ['tokenizer', 'metrics'],
};
