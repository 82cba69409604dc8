/**
 * The `tokenizer.train` stage kind: RobusTok main training (dossier §2–§3) on an ImageFolder dataset.
 *
 * Epoch-based like upstream: the lr schedules (timm cosine with warmup) and the perturbation anneal are
 * functions of the epoch, the GAN switches on at `discriminator.startEpoch`. The loop, checkpoints,
 * exact resume, validation and outputs are shared with post-training (tokenizer-training-loop.ts).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../compute/backend';
import { PipelineError } from '../core/errors';
import { ImageBatchLoader } from '../data/image-batches';
import { perturbationSchedule } from '../models/latent-perturbation';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { initTokenizerTrunks } from '../models/tokenizer-init';
import { parseTokenizerConfig } from '../models/tokenizer-config';
import { RngStreams } from '../models/training/rng';
import { delayed, perEpoch, timmCosine } from '../models/training/schedules';
import { buildLossNetworks, type LossNetworks } from '../models/training/tokenizer-loss-networks';
import { TokenizerTrainer } from '../models/training/tokenizer-trainer';
import type { StageContext, StageImpl, StageResult } from './stage';
import { tokenizerTrainDescriptor, tokenizerTrainConfigSchema, type TokenizerTrainConfig } from './tokenizer-train-config';
import { runTokenizerTraining, type BatchSource, type TrainingSchedules } from './tokenizer-training-loop';

/** The dataset input may be an ImageFolder root or a folder holding `<split>/` ImageFolders. */
export function splitRoot(root: string, split: string): string {
  const sub = path.join(root, split);
  return existsSync(sub) ? sub : root;
}

interface ScheduleSettings {
  batchSize: number;
  epochs: number;
  optimizer: { lr: number; scaleLrByBatch: boolean; minLr: number; warmupEpochs: number; warmupLr: number };
  discriminator: { lr: number; scaleLrByBatch: boolean; minLr: number; warmupEpochs: number; warmupLr: number; startEpoch: number };
}

/** timm cosine per epoch for G; D's scheduler is only stepped once the GAN is on (it holds its warmup lr before). */
export function tokenizerSchedules(c: ScheduleSettings, stepsPerEpoch: number): TrainingSchedules {
  const scale = (on: boolean) => (on ? c.batchSize / 128 : 1);
  const o = c.optimizer;
  const gen = perEpoch(
    timmCosine({ baseLr: o.lr * scale(o.scaleLrByBatch), minLr: o.minLr, tInitial: c.epochs, warmupT: o.warmupEpochs, warmupLrInit: o.warmupLr }),
    stepsPerEpoch,
  );
  const d = c.discriminator;
  const discStartStep = Math.round(d.startEpoch * stepsPerEpoch);
  const discEpoch = timmCosine({
    baseLr: d.lr * scale(d.scaleLrByBatch),
    minLr: d.minLr,
    tInitial: Math.max(1, c.epochs - d.startEpoch),
    warmupT: d.warmupEpochs,
    warmupLrInit: d.warmupLr,
  });
  return { gen, disc: delayed(perEpoch(discEpoch, stepsPerEpoch), discStartStep, d.warmupLr), discStartStep };
}

/** ImageFolder batches with input = target (main training reconstructs its own input). */
export function selfTargets(loader: ImageBatchLoader): BatchSource {
  return {
    stepsPerEpoch: () => loader.stepsPerEpoch(),
    async *epoch(epoch, rng, start) {
      for await (const b of loader.epoch(epoch, rng, start)) yield { input: b.images, target: b.images, shape: b.shape, step: b.step };
    },
  };
}

/** The settings both tokenizer trainings share (main and post-training configs have the same blocks). */
export interface TrainerSettings {
  losses: { reconstructionWeight: number; perceptualWeight: number; semanticWeight: number };
  discriminator: { kind: 'dino' | 'conv' | 'none'; weight: number; lecamWeight: number; adaptiveWeight: boolean; diffAug: boolean; weightDecay: number };
  optimizer: { beta1: number; beta2: number; weightDecay: number };
  ema: { decay: number };
  maxGradNorm: number;
}

/** A TokenizerTrainer for `model` with the networks built for it; `frozen` names parameters kept fixed. */
export function trainerFromConfig(
  c: TrainerSettings,
  model: RobustokTokenizer,
  nets: LossNetworks,
  rng: RngStreams,
  frozen?: ReadonlySet<string>,
): TokenizerTrainer {
  return new TokenizerTrainer({
    model,
    disc: nets.disc,
    teacher: nets.teacher,
    lpips: nets.lpips,
    weights: {
      reconstruction: c.losses.reconstructionWeight,
      perceptual: nets.lpips ? c.losses.perceptualWeight : 0,
      semantic: nets.teacher ? c.losses.semanticWeight : 0,
      disc: c.discriminator.kind === 'none' ? 0 : c.discriminator.weight,
      lecam: c.discriminator.lecamWeight,
      adaptive: c.discriminator.adaptiveWeight,
      diffAug: c.discriminator.diffAug,
    },
    genOptimizer: { beta1: c.optimizer.beta1, beta2: c.optimizer.beta2, weightDecay: c.optimizer.weightDecay },
    discOptimizer: { beta1: c.optimizer.beta1, beta2: c.optimizer.beta2, weightDecay: c.discriminator.weightDecay },
    emaDecay: c.ema.decay,
    maxGradNorm: c.maxGradNorm,
    rng,
    frozen,
  });
}

/** The `init` input: a safetensors file, or a folder (e.g. a files.import of one) holding exactly one. */
function safetensorsIn(input: string): string {
  if (!statSync(input).isDirectory()) return input;
  const found = readdirSync(input).filter((f) => f.endsWith('.safetensors'));
  if (found.length !== 1)
    throw new PipelineError('INPUT_MISSING', `init input ${input} is a folder with ${found.length} .safetensors files; wire the ViT weights file itself`);
  return path.join(input, found[0] as string);
}

async function run(ctx: StageContext<TokenizerTrainConfig>): Promise<StageResult> {
  // Re-parsed here, not trusted as planned: a worker running newer code than the CLI that planned the
  // run must still see every default filled (an absent key would otherwise read as undefined).
  const c = tokenizerTrainConfigSchema.parse(ctx.config);
  await initBackend({ log: (l) => ctx.log.info(l) });
  const datasetRoot = ctx.inputs.dataset;
  if (datasetRoot === undefined)
    throw new PipelineError('INPUT_MISSING', 'tokenizer.train needs a `dataset` input (an ImageFolder, e.g. the output of dataset.synthetic)');
  const modelConfig = parseTokenizerConfig(c.model, 'tokenizer.train config.model');
  const trainRoot = splitRoot(datasetRoot, c.trainSplit);
  const loader = await ImageBatchLoader.open({
    root: trainRoot,
    imageSize: modelConfig.image_size,
    batchSize: c.batchSize,
    augment: 'random-crop-flip',
    shuffle: true,
    dropLast: true,
    skipCorrupt: c.skipCorrupt,
    log: (m) => ctx.log.warn(m),
  });
  const stepsPerEpoch = loader.stepsPerEpoch();
  if (stepsPerEpoch === 0)
    throw new PipelineError('CONFIG_INVALID', `batchSize ${c.batchSize} is larger than the ${loader.numImages} training images: lower batchSize or add data`);
  const valRoot = splitRoot(datasetRoot, c.valSplit);
  const totalSteps = c.maxSteps > 0 ? Math.min(c.maxSteps, c.epochs * stepsPerEpoch) : c.epochs * stepsPerEpoch;

  const rng = new RngStreams(ctx.seed);
  const model = new RobustokTokenizer(modelConfig, rng.stream('init'));
  if (ctx.inputs.init !== undefined) {
    // Before the trainer exists: its EMA starts from the initialised weights (upstream's EMA copy).
    const file = safetensorsIn(ctx.inputs.init);
    const r = await initTokenizerTrunks(model, file);
    ctx.log.info(`initialised ${r.encoder} encoder and ${r.decoder} decoder trunk tensors from ${path.basename(file)}`);
  }
  const nets = await buildLossNetworks(c, ctx.inputs, model, rng);
  const trainer = trainerFromConfig(c, model, nets, rng);
  const pert = c.perturbation;
  try {
    return await runTokenizerTraining(ctx, {
      stage: 'tokenizer.train',
      model,
      trainer,
      nets,
      rng,
      source: selfTargets(loader),
      totalSteps,
      schedules: tokenizerSchedules(c, stepsPerEpoch),
      perturbation: (epoch) => {
        const s = perturbationSchedule(epoch, {
          anneal_start: pert.annealStart,
          anneal_end: pert.annealEnd,
          end_ratio: pert.endRatio,
          alpha: pert.alpha,
          delta: pert.delta,
        });
        return pert.beta > 0 && s.alpha > 0 && s.delta >= 1 ? { alpha: s.alpha, beta: pert.beta, delta: s.delta } : undefined;
      },
      valRoot: valRoot !== trainRoot ? valRoot : undefined,
      validation: c.validation,
      skipCorrupt: c.skipCorrupt,
      logEvery: c.logEvery,
    });
  } finally {
    trainer.dispose();
    nets.dispose();
    model.dispose();
  }
}

export const tokenizerTrainStage: StageImpl<TokenizerTrainConfig> = { descriptor: tokenizerTrainDescriptor, run };
