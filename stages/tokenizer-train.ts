/**
 * The `tokenizer.train` stage kind: RobusTok main training (dossier §2–§3) on an ImageFolder dataset.
 *
 * Epoch-based like upstream: the lr schedules (timm cosine with warmup) and the perturbation anneal are
 * functions of the epoch, the GAN switches on at `discriminator.startEpoch`. Every `checkpointEvery`
 * steps the whole training state (tokenizer, EMA, both optimizers, discriminator, LeCAM EMAs, RNG
 * streams, step/epoch, best metric) goes to the store through ctx.checkpoints; a later attempt resumes
 * from the newest one and continues exactly (the data loader derives each batch from (seed, epoch,
 * step), so no loader state needs saving). Outputs: `tokenizer` (an artifact directory with the
 * selected weights and the EMA) and `metrics` (per-step log, validation history, final numbers).
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, initBackend } from '../compute/backend';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../compute/checkpoint-training';
import type { Json } from '../core/canonical-json';
import { PipelineError } from '../core/errors';
import { ImageBatchLoader } from '../data/image-batches';
import { perturbationSchedule } from '../models/latent-perturbation';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../models/tokenizer-config';
import { saveTokenizerArtifact } from '../models/tokenizer-artifact';
import { buildLossNetworks } from '../models/training/tokenizer-loss-networks';
import { TokenizerTrainer, type StepStats } from '../models/training/tokenizer-trainer';
import { RngStreams } from '../models/training/rng';
import { delayed, perEpoch, timmCosine, type LrSchedule } from '../models/training/schedules';
import { tokenizerTrainDescriptor, type TokenizerTrainConfig } from './tokenizer-train-config';
import type { StageContext, StageImpl, StageResult } from './stage';
import { validateTokenizer, type ValidationResult } from './tokenizer-validation';

/** The dataset input may be an ImageFolder root or a folder holding `<split>/` ImageFolders. */
function splitRoot(root: string, split: string): string {
  const sub = path.join(root, split);
  return existsSync(sub) ? sub : root;
}

interface Schedules {
  gen: LrSchedule;
  disc: LrSchedule;
  discStartStep: number;
}

/** Upstream main-train: timm cosine per epoch for G; D's scheduler only steps once the GAN is on. */
function schedules(c: TokenizerTrainConfig, stepsPerEpoch: number): Schedules {
  const scale = (on: boolean) => (on ? c.batchSize / 128 : 1);
  const o = c.optimizer;
  const gen = perEpoch(timmCosine({ baseLr: o.lr * scale(o.scaleLrByBatch), minLr: o.minLr, tInitial: c.epochs, warmupT: o.warmupEpochs, warmupLrInit: o.warmupLr }), stepsPerEpoch);
  const d = c.discriminator;
  const discStartStep = Math.round(d.startEpoch * stepsPerEpoch);
  const discEpochs = Math.max(1, c.epochs - d.startEpoch);
  const discEpoch = timmCosine({ baseLr: d.lr * scale(d.scaleLrByBatch), minLr: d.minLr, tInitial: discEpochs, warmupT: d.warmupEpochs, warmupLrInit: d.warmupLr });
  return { gen, disc: delayed(perEpoch(discEpoch, stepsPerEpoch), discStartStep, d.warmupLr), discStartStep };
}

interface Progress {
  step: number;
  epoch: number;
  stepInEpoch: number;
  best: { metric: string; value: number; step: number } | null;
  history: Json[];
  validations: ValidationResult[];
}

async function run(ctx: StageContext<TokenizerTrainConfig>): Promise<StageResult> {
  const c = ctx.config;
  await initBackend({ log: (l) => ctx.log.info(l) });
  const datasetRoot = ctx.inputs.dataset;
  if (datasetRoot === undefined) throw new PipelineError('INPUT_MISSING', 'tokenizer.train needs a `dataset` input (an ImageFolder, e.g. the output of dataset.synthetic)');
  const modelConfig = parseTokenizerConfig(c.model);
  const imageSize = modelConfig.image_size;
  const train = await ImageBatchLoader.open({ root: splitRoot(datasetRoot, c.trainSplit), imageSize, batchSize: c.batchSize, augment: 'random-crop-flip', shuffle: true, dropLast: true, skipCorrupt: c.skipCorrupt, log: (m) => ctx.log.warn(m) });
  const stepsPerEpoch = train.stepsPerEpoch();
  if (stepsPerEpoch === 0) throw new PipelineError('CONFIG_INVALID', `batchSize ${c.batchSize} is larger than the ${train.numImages} training images: lower batchSize or add data`);
  const valRoot = splitRoot(datasetRoot, c.valSplit);
  const hasVal = valRoot !== splitRoot(datasetRoot, c.trainSplit);
  const totalSteps = c.maxSteps > 0 ? Math.min(c.maxSteps, c.epochs * stepsPerEpoch) : c.epochs * stepsPerEpoch;
  const sched = schedules(c, stepsPerEpoch);

  const rng = new RngStreams(ctx.seed);
  const model = new RobustokTokenizer(modelConfig, rng.stream('init'));
  const nets = await buildLossNetworks(c, ctx.inputs, model, rng);
  const trainer = new TokenizerTrainer({
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
  });

  const p: Progress = { step: 0, epoch: 0, stepInEpoch: 0, best: null, history: [], validations: [] };
  const resume = await ctx.checkpoints.latest();
  if (resume) {
    // restores into `rng` in place: the trainer and the loader read their streams from it
    await restore(resume.dir, trainer, nets.disc, rng, p);
    ctx.log.info(`resumed from the checkpoint of step ${resume.step} (epoch ${p.epoch}, batch ${p.stepInEpoch} of ${stepsPerEpoch})`);
  }

  // codebook usage over the current epoch; the last complete epoch's figure is what the metrics report
  const usage = new Uint32Array(modelConfig.codebook_size);
  let lastEpochUsage: number | undefined;
  const workDir = path.join(ctx.workdir, 'tokenizer-train');
  await mkdir(workDir, { recursive: true });
  const bestDir = path.join(workDir, 'best');
  let lastLog = Date.now();
  let imagesSinceLog = 0;
  let last: StepStats | undefined;

  outer: while (p.step < totalSteps) {
    const epoch = p.epoch;
    const pert = c.perturbation;
    const sch = perturbationSchedule(epoch, { anneal_start: pert.annealStart, anneal_end: pert.annealEnd, end_ratio: pert.endRatio, alpha: pert.alpha, delta: pert.delta });
    const delta = Math.min(sch.delta, modelConfig.codebook_size);
    const perturbation = pert.beta > 0 && sch.alpha > 0 && delta > 1 ? { alpha: sch.alpha, beta: pert.beta, delta } : undefined;
    for await (const batch of train.epoch(epoch, rng.stream('data'), p.stepInEpoch)) {
      if (ctx.signal.aborted) throw new PipelineError('INTERNAL', 'tokenizer.train cancelled');
      const images = tf.tensor4d(batch.images, batch.shape);
      try {
        last = trainer.step(images, images, {
          genLr: sched.gen(p.step),
          discLr: sched.disc(p.step),
          discActive: p.step >= sched.discStartStep,
          perturbation,
        });
      } catch (e) {
        if (e instanceof PipelineError && e.code === 'NAN_LOSS') {
          throw new PipelineError('NAN_LOSS', `step ${p.step} (epoch ${epoch}): ${e.message}; the last good checkpoint stays in the store. Lower optimizer.lr, keep maxGradNorm > 0, or check the data`, { cause: e });
        }
        throw e;
      } finally {
        images.dispose();
      }
      for (const id of last.codes) usage[id] = (usage[id] ?? 0) + 1;
      p.step += 1;
      p.stepInEpoch = batch.step + 1;
      imagesSinceLog += batch.shape[0];
      const now = Date.now();
      const ips = (imagesSinceLog * 1000) / Math.max(1, now - lastLog);
      const used = usedCodes(usage);
      if (p.step % c.logEvery === 0 || p.step === totalSteps) {
        p.history.push({ step: p.step, epoch, lr: sched.gen(p.step - 1), ...round(last), codebookUsage: used / modelConfig.codebook_size, imagesPerSec: Math.round(ips * 10) / 10 });
        lastLog = now;
        imagesSinceLog = 0;
      }
      ctx.progress({ step: p.step, total: totalSteps, message: `epoch ${epoch} loss ${last.loss.toFixed(4)} rec ${last.rec.toFixed(4)} lr ${sched.gen(p.step - 1).toExponential(2)} codes ${used}/${modelConfig.codebook_size} ${ips.toFixed(1)} img/s` });
      if (p.stepInEpoch >= stepsPerEpoch) {
        p.epoch += 1;
        p.stepInEpoch = 0;
        lastEpochUsage = usedCodes(usage) / modelConfig.codebook_size;
        usage.fill(0);
      }
      const validateNow = hasVal && c.validation.every > 0 && p.step % c.validation.every === 0 && p.step < totalSteps;
      if (validateNow) await validateAndSelect(ctx, model, trainer, valRoot, p, bestDir);
      if (ctx.checkpointEvery > 0 && p.step % ctx.checkpointEvery === 0 && p.step < totalSteps) await checkpoint(ctx, workDir, trainer, nets.disc, rng, p);
      if (p.step >= totalSteps) break outer;
    }
  }

  if (hasVal) await validateAndSelect(ctx, model, trainer, valRoot, p, bestDir);
  const outDir = path.join(ctx.workdir, 'out', 'tokenizer');
  if (c.validation.selectBy !== 'last' && p.best && existsSync(bestDir)) {
    await rm(outDir, { recursive: true, force: true });
    await mkdir(path.dirname(outDir), { recursive: true });
    await writeFile(path.join(workDir, '.selected'), `${p.best.step}\n`);
    await copyDir(bestDir, outDir);
  } else {
    await saveTokenizerArtifact(outDir, { config: modelConfig, model: model.stateDict(), ema: trainer.ema.tensors() });
  }
  const final = p.validations.at(-1);
  const metrics: Record<string, Json> = {
    steps: p.step,
    epochs: p.epoch,
    finalLoss: last?.loss ?? null,
    finalRec: last?.rec ?? null,
    codebookUsage: lastEpochUsage ?? usedCodes(usage) / modelConfig.codebook_size,
  };
  if (final) {
    metrics.psnr = final.psnr;
    metrics.ssim = final.ssim;
    metrics.valCodebookUsage = final.codebookUsage;
    if (final.rfid !== undefined) metrics.rfid = final.rfid;
    const first = p.validations[0];
    if (first) metrics.psnrGain = final.psnr - first.psnr;
  }
  if (p.best) metrics.selected = p.best;
  const metricsFile = path.join(ctx.workdir, 'out', 'metrics.json');
  await writeFile(metricsFile, `${JSON.stringify({ backend: backendInfo(), metrics, validations: p.validations, history: p.history }, null, 2)}\n`);
  trainer.dispose();
  nets.dispose();
  model.dispose();
  return { outputs: { tokenizer: outDir, metrics: metricsFile }, metrics };
}

async function validateAndSelect(ctx: StageContext<TokenizerTrainConfig>, model: RobustokTokenizer, trainer: TokenizerTrainer, valRoot: string, p: Progress, bestDir: string): Promise<void> {
  const c = ctx.config;
  // Upstream evaluates the non-EMA model during training (dossier §2.5, model selection).
  const v = await validateTokenizer(model, { root: valRoot, batchSize: c.validation.batchSize, maxImages: c.validation.maxImages, fidWeights: ctx.inputs.fidWeights, skipCorrupt: c.skipCorrupt, workdir: ctx.workdir, log: ctx.log });
  const result = { ...v, step: p.step };
  p.validations.push(result);
  ctx.log.info(`validation at step ${p.step}: PSNR ${v.psnr.toFixed(2)} dB, SSIM ${v.ssim.toFixed(4)}, codebook usage ${(v.codebookUsage * 100).toFixed(1)}%${v.rfid !== undefined ? `, rFID ${v.rfid.toFixed(3)}` : ''}`);
  const by = c.validation.selectBy;
  if (by === 'last') return;
  const value = by === 'rfid' ? v.rfid : v[by];
  if (value === undefined) throw new PipelineError('CONFIG_INVALID', `validation.selectBy: ${by} needs the fidWeights input (FID Inception weights)`);
  const better = p.best === null || (by === 'rfid' ? value < p.best.value : value > p.best.value);
  if (better) {
    p.best = { metric: by, value, step: p.step };
    await rm(bestDir, { recursive: true, force: true });
    await saveTokenizerArtifact(bestDir, { config: model.config, model: model.stateDict(), ema: trainer.ema.tensors() });
  }
}

async function checkpoint(ctx: StageContext<TokenizerTrainConfig>, workDir: string, trainer: TokenizerTrainer, disc: { stateDict(): Map<string, tf.Variable> } | undefined, rng: RngStreams, p: Progress): Promise<void> {
  const dir = path.join(workDir, 'checkpoint');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const extra = { epoch: p.epoch, stepInEpoch: p.stepInEpoch, best: p.best, lecam: trainer.lecam.getState(), history: p.history, validations: p.validations } as unknown as Record<string, unknown>;
  await saveTrainingCheckpoint(path.join(dir, 'tokenizer.safetensors'), { model: trainer.model.stateDict(), ema: trainer.ema, optimizer: trainer.genOpt }, { step: p.step, rng: rng.getState(), extra });
  if (disc && trainer.discOpt) await saveTrainingCheckpoint(path.join(dir, 'discriminator.safetensors'), { model: disc.stateDict(), optimizer: trainer.discOpt }, { step: p.step });
  const bestDir = path.join(workDir, 'best');
  if (existsSync(bestDir)) await copyDir(bestDir, path.join(dir, 'best'));
  await ctx.checkpoints.save(dir, p.step);
}

async function restore(dir: string, trainer: TokenizerTrainer, disc: { stateDict(): Map<string, tf.Variable> } | undefined, rng: RngStreams, p: Progress): Promise<void> {
  const loaded = await loadTrainingCheckpoint(path.join(dir, 'tokenizer.safetensors'), { model: trainer.model.stateDict(), ema: trainer.ema, optimizer: trainer.genOpt });
  const discFile = path.join(dir, 'discriminator.safetensors');
  if (disc && trainer.discOpt && existsSync(discFile)) await loadTrainingCheckpoint(discFile, { model: disc.stateDict(), optimizer: trainer.discOpt });
  const extra = (loaded.state.extra ?? {}) as { epoch?: number; stepInEpoch?: number; best?: Progress['best']; lecam?: ReturnType<TokenizerTrainer['lecam']['getState']>; history?: Json[]; validations?: ValidationResult[] };
  p.step = loaded.state.step;
  p.epoch = extra.epoch ?? 0;
  p.stepInEpoch = extra.stepInEpoch ?? 0;
  p.best = extra.best ?? null;
  p.history = extra.history ?? [];
  p.validations = extra.validations ?? [];
  if (extra.lecam) trainer.lecam.setState(extra.lecam);
  const best = path.join(dir, 'best');
  if (existsSync(best)) await copyDir(best, path.join(path.dirname(dir), 'best'));
  if (!loaded.state.rng) throw new PipelineError('CHECKPOINT_MISMATCH', `${dir}: the checkpoint holds no RNG state, so the run cannot continue exactly; delete the run's checkpoints to restart from step 0`);
  rng.restore(loaded.state.rng);
}

async function copyDir(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
}

function usedCodes(usage: Uint32Array): number {
  let n = 0;
  for (const u of usage) if (u > 0) n++;
  return n;
}

function round(s: StepStats): Record<string, number> {
  const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : 0);
  return { loss: r(s.loss), rec: r(s.rec), perceptual: r(s.perceptual), codebook: r(s.codebook), commit: r(s.commit), semantic: r(s.semantic), genAdv: r(s.genAdv), adaptiveWeight: r(s.adaptiveWeight), disc: r(s.disc), gradNorm: r(s.gradNorm), replaced: s.replaced };
}


export const tokenizerTrainStage: StageImpl<TokenizerTrainConfig> = { descriptor: tokenizerTrainDescriptor, run };
