/**
 * The epoch/step loop shared by tokenizer main training (tokenizer-train.ts) and decoder
 * post-training (tokenizer-posttrain.ts): batches in, TokenizerTrainer steps, heartbeats, periodic
 * validation with best-checkpoint selection, checkpoints through ctx.checkpoints and exact resume, and
 * the two outputs (`tokenizer` artifact, `metrics` JSON).
 *
 * What a checkpoint holds: tokenizer weights + EMA + generator AdamW (tokenizer.safetensors),
 * discriminator + its AdamW (discriminator.safetensors), and as JSON metadata the step, epoch, batch
 * within the epoch, LeCAM EMAs, the RNG streams, the best metric and the logs so far. Batches are a
 * pure function of (seed, epoch, batch index) (data/image-batches.ts), so nothing about the loader
 * needs saving: a resumed attempt asks for epoch e from batch s and sees what the lost one would have.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendInfo } from '../compute/backend';
import { deferredExecutionMode, describeDeferred, withDeferredExecution } from '../compute/deferred-execution';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../compute/checkpoint-training';
import type { Json } from '../core/canonical-json';
import { PipelineError } from '../core/errors';
import type { RobustokTokenizer } from '../models/robustok-tokenizer';
import { saveTokenizerArtifact } from '../models/tokenizer-artifact';
import type { Rng, RngStreams } from '../models/training/rng';
import type { LrSchedule } from '../models/training/schedules';
import type { LossNetworks } from '../models/training/tokenizer-loss-networks';
import type { StepStats, TokenizerTrainer } from '../models/training/tokenizer-trainer';
import type { StageContext, StageResult } from './stage';
import { validateTokenizer, type ValidationResult } from './tokenizer-validation';

/** One training batch: what the tokenizer encodes and what its reconstruction is scored against. */
export interface TrainingBatch {
  /** [B, 3, H, W] in [-1, 1]. */
  readonly input: Float32Array;
  /** Same layout; the same array as `input` in main training. */
  readonly target: Float32Array;
  readonly shape: [number, 3, number, number];
  /** Index of this batch within its epoch. */
  readonly step: number;
}

export interface BatchSource {
  stepsPerEpoch(): number;
  epoch(epoch: number, rng: Rng, startStep: number): AsyncGenerator<TrainingBatch>;
}

export interface TrainingSchedules {
  gen: LrSchedule;
  disc: LrSchedule;
  discStartStep: number;
}

export interface TrainingPlan {
  stage: string;
  model: RobustokTokenizer;
  trainer: TokenizerTrainer;
  nets: LossNetworks;
  rng: RngStreams;
  source: BatchSource;
  totalSteps: number;
  schedules: TrainingSchedules;
  perturbation(epoch: number): { alpha: number; beta: number; delta: number } | undefined;
  /** ImageFolder of held-out images (center crops), if any. */
  valRoot?: string;
  validation: { every: number; maxImages: number; selectBy: 'psnr' | 'ssim' | 'rfid' | 'last'; batchSize: number };
  skipCorrupt: boolean;
  logEvery: number;
  /** Extra numbers for the metrics output (e.g. the frozen parameter count). */
  info?: Record<string, Json>;
}

interface Progress {
  step: number;
  epoch: number;
  stepInEpoch: number;
  best: { metric: string; value: number; step: number } | null;
  history: Json[];
  validations: (ValidationResult & { step: number })[];
}

export async function runTokenizerTraining<C>(ctx: StageContext<C>, plan: TrainingPlan): Promise<StageResult> {
  const { model, trainer, rng, source, totalSteps, schedules: sched } = plan;
  const stepsPerEpoch = source.stepsPerEpoch();
  const codebookSize = model.config.codebook_size;
  const p: Progress = { step: 0, epoch: 0, stepInEpoch: 0, best: null, history: [], validations: [] };
  const workDir = path.join(ctx.workdir, 'tokenizer-train');
  await mkdir(workDir, { recursive: true });
  const bestDir = path.join(workDir, 'best');

  const resume = await ctx.checkpoints.latest();
  if (resume) {
    // restores into `rng` in place: the trainer and the batch source read their streams from it
    await restore(resume.dir, trainer, plan.nets, rng, p, bestDir);
    ctx.log.info(`resumed from the checkpoint of step ${resume.step} (epoch ${p.epoch}, batch ${p.stepInEpoch} of ${stepsPerEpoch})`);
  }

  // A baseline before the first step, so the metrics can say how much training improved reconstruction.
  if (plan.valRoot && p.step === 0 && plan.validation.every > 0) await validateAndSelect(ctx, plan, p, bestDir);

  // codebook usage over the current epoch; the last complete epoch's figure is what the metrics report
  const usage = new Uint32Array(codebookSize);
  let lastEpochUsage: number | undefined;
  let lastLog = Date.now();
  let imagesSinceLog = 0;
  let last: StepStats | undefined;

  while (p.step < totalSteps) {
    const epoch = p.epoch;
    const perturbation = plan.perturbation(epoch);
    for await (const batch of source.epoch(epoch, rng.stream('data'), p.stepInEpoch)) {
      if (ctx.signal.aborted) throw new PipelineError('INTERNAL', `${plan.stage} cancelled`);
      const input = tf.tensor4d(batch.input, batch.shape);
      const target = batch.target === batch.input ? input : tf.tensor4d(batch.target, batch.shape);
      const lr = sched.gen(p.step);
      try {
        // one graph call per stretch between host reads on the native backend (ROBUSTOK_NATIVE_EXEC=eager: op by op)
        last = withDeferredExecution(() =>
          trainer.step(input, target, { genLr: lr, discLr: sched.disc(p.step), discActive: p.step >= sched.discStartStep, perturbation }),
        );
      } catch (e) {
        if (e instanceof PipelineError && e.code === 'NAN_LOSS') {
          throw new PipelineError(
            'NAN_LOSS',
            `step ${p.step} (epoch ${epoch}): ${e.message}; the last good checkpoint stays in the store. Lower optimizer.lr, keep maxGradNorm > 0, or check the data`,
            { cause: e },
          );
        }
        throw e;
      } finally {
        input.dispose();
        if (target !== input) target.dispose();
      }
      for (const id of last.codes) usage[id] = (usage[id] ?? 0) + 1;
      p.step += 1;
      p.stepInEpoch = batch.step + 1;
      imagesSinceLog += batch.shape[0];
      const now = Date.now();
      const ips = (imagesSinceLog * 1000) / Math.max(1, now - lastLog);
      const used = usedCodes(usage);
      if (p.step % plan.logEvery === 0 || p.step === totalSteps) {
        p.history.push({ step: p.step, epoch, lr, ...round(last), codebookUsage: used / codebookSize, imagesPerSec: Math.round(ips * 10) / 10 });
        lastLog = now;
        imagesSinceLog = 0;
      }
      const scalars = Object.fromEntries(Object.entries(last).filter((e): e is [string, number] => typeof e[1] === 'number'));
      ctx.progress({
        step: p.step,
        total: totalSteps,
        message: `epoch ${epoch} loss ${last.loss.toFixed(4)} rec ${last.rec.toFixed(4)} lr ${lr.toExponential(2)} codes ${used}/${codebookSize} ${ips.toFixed(1)} img/s`,
        metrics: { ...scalars, lr, codebookUsage: used / codebookSize, imagesPerSec: ips },
      });
      if (p.stepInEpoch >= stepsPerEpoch) {
        p.epoch += 1;
        p.stepInEpoch = 0;
        lastEpochUsage = usedCodes(usage) / codebookSize;
        usage.fill(0);
      }
      if (plan.valRoot && plan.validation.every > 0 && p.step % plan.validation.every === 0 && p.step < totalSteps)
        await validateAndSelect(ctx, plan, p, bestDir);
      if (ctx.checkpointEvery > 0 && p.step % ctx.checkpointEvery === 0 && p.step < totalSteps) await checkpoint(ctx, workDir, trainer, plan.nets, rng, p);
      if (p.step >= totalSteps) break;
    }
  }

  if (plan.valRoot) await validateAndSelect(ctx, plan, p, bestDir);
  const outDir = path.join(ctx.workdir, 'out', 'tokenizer');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(path.dirname(outDir), { recursive: true });
  if (plan.validation.selectBy !== 'last' && p.best && existsSync(bestDir)) await cp(bestDir, outDir, { recursive: true });
  else await saveTokenizerArtifact(outDir, { config: model.config, model: model.stateDict(), ema: trainer.ema.tensors() });

  const deferred = describeDeferred();
  if (deferred) ctx.log.info(deferred);
  const final = p.validations.at(-1);
  const metrics: Record<string, Json> = {
    steps: p.step,
    epochs: p.epoch,
    finalLoss: last?.loss ?? null,
    finalRec: last?.rec ?? null,
    codebookUsage: lastEpochUsage ?? usedCodes(usage) / codebookSize,
    ...plan.info,
  };
  if (final) {
    metrics.psnr = final.psnr;
    metrics.ssim = final.ssim;
    metrics.valCodebookUsage = final.codebookUsage;
    if (final.rfid !== undefined) metrics.rfid = final.rfid;
    const first = p.validations[0];
    if (first && first !== final) metrics.psnrGain = final.psnr - first.psnr;
  }
  if (p.best) metrics.selected = p.best;
  const metricsFile = path.join(ctx.workdir, 'out', 'metrics.json');
  await writeFile(
    metricsFile,
    `${JSON.stringify({ stage: plan.stage, backend: backendInfo(), exec: deferredExecutionMode(), metrics, validations: p.validations, history: p.history }, null, 2)}\n`,
  );
  return { outputs: { tokenizer: outDir, metrics: metricsFile }, metrics };
}

async function validateAndSelect<C>(ctx: StageContext<C>, plan: TrainingPlan, p: Progress, bestDir: string): Promise<void> {
  const { model, trainer } = plan;
  if (p.validations.at(-1)?.step === p.step) return; // validated at this step already (a resumed attempt's end)
  // Upstream evaluates the non-EMA model during training (dossier §2.5, model selection).
  const v = await validateTokenizer(model, {
    root: plan.valRoot as string,
    batchSize: plan.validation.batchSize,
    maxImages: plan.validation.maxImages,
    fidWeights: ctx.inputs.fidWeights,
    skipCorrupt: plan.skipCorrupt,
    workdir: ctx.workdir,
    log: ctx.log,
  });
  p.validations.push({ ...v, step: p.step });
  ctx.progress({ metrics: { valPsnr: v.psnr, valSsim: v.ssim, valCodebookUsage: v.codebookUsage, ...(v.rfid === undefined ? {} : { valRfid: v.rfid }) } });
  ctx.log.info(
    `validation at step ${p.step}: PSNR ${v.psnr.toFixed(2)} dB, SSIM ${v.ssim.toFixed(4)}, codebook usage ${(v.codebookUsage * 100).toFixed(1)}%${v.rfid !== undefined ? `, rFID ${v.rfid.toFixed(3)}` : ''}`,
  );
  const by = plan.validation.selectBy;
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

async function checkpoint<C>(
  ctx: StageContext<C>,
  workDir: string,
  trainer: TokenizerTrainer,
  nets: LossNetworks,
  rng: RngStreams,
  p: Progress,
): Promise<void> {
  const dir = path.join(workDir, 'checkpoint');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const extra = { epoch: p.epoch, stepInEpoch: p.stepInEpoch, best: p.best, lecam: trainer.lecam.getState(), history: p.history, validations: p.validations };
  await saveTrainingCheckpoint(
    path.join(dir, 'tokenizer.safetensors'),
    { model: trainer.model.stateDict(), ema: trainer.ema, optimizer: trainer.genOpt },
    { step: p.step, rng: rng.getState(), extra: extra },
  );
  if (nets.disc && trainer.discOpt)
    await saveTrainingCheckpoint(path.join(dir, 'discriminator.safetensors'), { model: nets.disc.stateDict(), optimizer: trainer.discOpt }, { step: p.step });
  const bestDir = path.join(workDir, 'best');
  if (existsSync(bestDir)) await cp(bestDir, path.join(dir, 'best'), { recursive: true });
  await ctx.checkpoints.save(dir, p.step);
}

async function restore(dir: string, trainer: TokenizerTrainer, nets: LossNetworks, rng: RngStreams, p: Progress, bestDir: string): Promise<void> {
  const loaded = await loadTrainingCheckpoint(path.join(dir, 'tokenizer.safetensors'), {
    model: trainer.model.stateDict(),
    ema: trainer.ema,
    optimizer: trainer.genOpt,
  });
  const discFile = path.join(dir, 'discriminator.safetensors');
  if (nets.disc && trainer.discOpt && existsSync(discFile))
    await loadTrainingCheckpoint(discFile, { model: nets.disc.stateDict(), optimizer: trainer.discOpt });
  const extra = (loaded.state.extra ?? {}) as Partial<Pick<Progress, 'epoch' | 'stepInEpoch' | 'best' | 'history' | 'validations'>> & {
    lecam?: ReturnType<TokenizerTrainer['lecam']['getState']>;
  };
  if (!loaded.state.rng)
    throw new PipelineError(
      'CHECKPOINT_MISMATCH',
      `${dir}: the checkpoint holds no RNG state, so the run cannot continue exactly; delete the run's checkpoints to restart from step 0`,
    );
  p.step = loaded.state.step;
  p.epoch = extra.epoch ?? 0;
  p.stepInEpoch = extra.stepInEpoch ?? 0;
  p.best = extra.best ?? null;
  p.history = extra.history ?? [];
  p.validations = extra.validations ?? [];
  if (extra.lecam) trainer.lecam.setState(extra.lecam);
  const best = path.join(dir, 'best');
  if (existsSync(best)) await cp(best, bestDir, { recursive: true });
  rng.restore(loaded.state.rng);
}

function usedCodes(usage: Uint32Array): number {
  let n = 0;
  for (const u of usage) if (u > 0) n++;
  return n;
}

function round(s: StepStats): Record<string, number> {
  const r = (x: number) => (Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : 0);
  return {
    loss: r(s.loss),
    rec: r(s.rec),
    perceptual: r(s.perceptual),
    codebook: r(s.codebook),
    commit: r(s.commit),
    semantic: r(s.semantic),
    genAdv: r(s.genAdv),
    adaptiveWeight: r(s.adaptiveWeight),
    disc: r(s.disc),
    gradNorm: r(s.gradNorm),
    replaced: s.replaced,
  };
}
