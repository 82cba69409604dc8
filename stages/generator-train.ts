/**
 * The `generator.train` stage kind: RAR on a pretokenized dataset (dossier §5).
 *
 * Step-based like upstream: the lr (linear warmup from 0, half-cosine to endLr at maxSteps) and the
 * random-order probability are functions of the step. Batches are drawn without replacement from a
 * per-epoch permutation keyed by (seed, epoch), so the loader has no state to save; everything else that
 * is random (orders, label dropout, dropout masks) comes from named streams saved in the checkpoint.
 * Every `checkpointEvery` steps model, AdamW moments, step and stream states go to ctx.checkpoints; a
 * later attempt continues from the newest one exactly. Outputs: `generator` (generator.json +
 * model.safetensors) and `metrics` (history, final loss, unigram entropy of the training ids).
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { backendInfo, initBackend } from '../compute/backend';
import { deferredExecutionMode, describeDeferred, withDeferredExecution } from '../compute/deferred-execution';
import { loadStateDictFile } from '../compute/checkpoint';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../compute/checkpoint-training';
import type { Json } from '../core/canonical-json';
import { PipelineError } from '../core/errors';
import { readTokenDataset, unigramEntropy, type TokenDataset } from '../data/token-dataset';
import { Rar } from '../models/rar';
import { GENERATOR_WEIGHTS, saveRarArtifact } from '../models/rar-artifact';
import { RAR_PRESETS, RarConfig } from '../models/rar-config';
import { RarTrainer } from '../models/training/rar-trainer';
import { RngStreams } from '../models/training/rng';
import { warmupCosine } from '../models/training/schedules';
import { generatorTrainDescriptor, type GeneratorTrainConfig } from './generator-train-config';
import type { StageContext, StageImpl, StageResult } from './stage';

const CHECKPOINT_FILE = 'generator-train.safetensors';

/** The model config: preset, then explicit sizes, then what the dataset fixes. */
export function rarConfigFor(c: GeneratorTrainConfig, data: Pick<TokenDataset, 'seqLen' | 'codebookSize' | 'numClasses'>): RarConfig {
  const m = c.model;
  const base = m.preset ? RAR_PRESETS[m.preset] : undefined;
  const pick = (k: 'hiddenSize' | 'numLayers' | 'numHeads') => {
    const v = m[k] ?? base?.[k];
    if (v === undefined) throw new PipelineError('CONFIG_INVALID', `generator.train: model.${k} is required without model.preset`);
    return v;
  };
  const hiddenSize = pick('hiddenSize');
  const parsed = RarConfig.safeParse({
    hiddenSize,
    numLayers: pick('numLayers'),
    numHeads: pick('numHeads'),
    intermediateSize: m.intermediateSize ?? (m.hiddenSize === undefined ? base?.intermediateSize : undefined) ?? 4 * hiddenSize,
    imageSeqLen: data.seqLen,
    codebookSize: data.codebookSize,
    numClasses: data.numClasses,
    dropout: m.dropout,
    attnDrop: m.attnDrop,
    classLabelDropout: m.classLabelDropout,
  });
  if (!parsed.success)
    throw new PipelineError('CONFIG_INVALID', `generator.train: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  if (parsed.data.hiddenSize % parsed.data.numHeads !== 0)
    throw new PipelineError(
      'CONFIG_INVALID',
      `generator.train: model.hiddenSize ${parsed.data.hiddenSize} is not divisible by numHeads ${parsed.data.numHeads}`,
    );
  return parsed.data;
}

/** Batches of an epoch: a permutation of the dataset keyed by (seed, epoch); the last partial batch is dropped. */
class EpochBatches {
  private epoch = -1;
  private perm: Int32Array = new Int32Array(0);
  readonly stepsPerEpoch: number;

  constructor(
    private readonly data: TokenDataset,
    private readonly batchSize: number,
    private readonly seed: number,
  ) {
    this.stepsPerEpoch = Math.floor(data.count / batchSize);
  }

  /** tokens [B·L] and classes [B] of global step `step`. */
  batch(step: number): { tokens: Int32Array; classes: Int32Array } {
    const epoch = Math.floor(step / this.stepsPerEpoch);
    if (epoch !== this.epoch) {
      this.perm = new RngStreams(this.seed).stream(`data/epoch-${epoch}`).permutation(this.data.count);
      this.epoch = epoch;
    }
    const B = this.batchSize;
    const L = this.data.seqLen;
    const first = (step % this.stepsPerEpoch) * B;
    const tokens = new Int32Array(B * L);
    const classes = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const i = this.perm[first + b] as number;
      tokens.set(this.data.tokens.subarray(i * L, (i + 1) * L), b * L);
      classes[b] = this.data.classes[i] as number;
    }
    return { tokens, classes };
  }
}

async function run(ctx: StageContext<GeneratorTrainConfig>): Promise<StageResult> {
  const c = ctx.config;
  await initBackend({ log: (l) => ctx.log.info(l) });
  const tokensDir = ctx.inputs.tokens;
  if (tokensDir === undefined) throw new PipelineError('INPUT_MISSING', 'generator.train needs a `tokens` input (a pretokenize output directory)');
  const data = await readTokenDataset(tokensDir);
  if (data.count < c.batchSize)
    throw new PipelineError('CONFIG_INVALID', `batchSize ${c.batchSize} is larger than the ${data.count} training sequences: lower batchSize`);
  const config = rarConfigFor(c, data);
  const entropy = unigramEntropy(data.tokens, data.codebookSize);
  ctx.log.info(
    `${data.count} sequences of ${data.seqLen} ids (codebook ${data.codebookSize}, ${data.numClasses} classes); unigram entropy ${entropy.toFixed(4)} nats`,
  );

  const batches = new EpochBatches(data, c.batchSize, ctx.seed);
  const lr = warmupCosine({ baseLr: c.optimizer.lr, endLr: c.optimizer.endLr, warmupSteps: c.optimizer.warmupSteps, totalSteps: c.maxSteps });
  const model = new Rar(config, new RngStreams(ctx.seed).stream('init'));
  const trainer = new RarTrainer(model, {
    beta1: c.optimizer.beta1,
    beta2: c.optimizer.beta2,
    weightDecay: c.optimizer.weightDecay,
    maxGradNorm: c.maxGradNorm,
    anneal: c.randomnessAnneal,
    rng: new RngStreams(ctx.seed),
  });
  try {
    if (ctx.inputs.init) {
      const isDir = (await stat(ctx.inputs.init)).isDirectory();
      await loadStateDictFile(model.stateDict(), isDir ? path.join(ctx.inputs.init, GENERATOR_WEIGHTS) : ctx.inputs.init);
      ctx.log.info(`initialised from ${ctx.inputs.init}`);
    }
    let step = 0;
    let history: Json[] = [];
    const resume = await ctx.checkpoints.latest();
    if (resume) {
      const loaded = await loadTrainingCheckpoint(path.join(resume.dir, CHECKPOINT_FILE), { model: model.stateDict(), optimizer: trainer.optimizer });
      if (!loaded.state.rng)
        throw new PipelineError(
          'CHECKPOINT_MISMATCH',
          `${resume.dir}: the checkpoint holds no RNG state, so the run cannot continue exactly; delete the run's checkpoints to restart`,
        );
      trainer.rng = RngStreams.fromState(loaded.state.rng);
      step = loaded.state.step;
      history = ((loaded.state.extra ?? {}) as { history?: Json[] }).history ?? [];
      ctx.log.info(`resumed from the checkpoint of step ${step}`);
    }

    const workDir = path.join(ctx.workdir, 'generator-train');
    await mkdir(workDir, { recursive: true });
    const tokensPerStep = c.batchSize * data.seqLen;
    let windowStart = Date.now();
    let windowSteps = 0;
    let windowLoss = 0;
    let last: { loss: number; gradNorm: number } | undefined;
    while (step < c.maxSteps) {
      if (ctx.signal.aborted) throw new PipelineError('INTERNAL', 'generator.train cancelled');
      const { tokens, classes } = batches.batch(step);
      const rate = lr(step);
      // one graph call per stretch between host reads on the native backend (ROBUSTOK_NATIVE_EXEC=eager: op by op)
      const s = withDeferredExecution(() => trainer.step(tokens, classes, { lr: rate, step }));
      last = s;
      step += 1;
      windowSteps += 1;
      windowLoss += s.loss;
      const tokensPerSec = (windowSteps * tokensPerStep * 1000) / Math.max(1, Date.now() - windowStart);
      ctx.progress({
        step,
        total: c.maxSteps,
        message: `loss ${s.loss.toFixed(4)} lr ${rate.toExponential(2)} random ${s.randomRatio.toFixed(2)} ${Math.round(tokensPerSec)} tok/s`,
        metrics: { loss: s.loss, lr: rate, gradNorm: s.gradNorm, randomRatio: s.randomRatio, tokensPerSec },
      });
      if (step % c.logEvery === 0 || step === c.maxSteps) {
        history.push({
          step,
          loss: round(windowLoss / windowSteps),
          lastLoss: round(s.loss),
          lr: rate,
          gradNorm: round(s.gradNorm),
          randomRatio: round(s.randomRatio),
          tokensPerSec: Math.round(tokensPerSec),
        });
        windowStart = Date.now();
        windowSteps = 0;
        windowLoss = 0;
      }
      if (ctx.checkpointEvery > 0 && step % ctx.checkpointEvery === 0 && step < c.maxSteps) {
        const dir = path.join(workDir, 'checkpoint');
        await rm(dir, { recursive: true, force: true });
        await mkdir(dir, { recursive: true });
        await saveTrainingCheckpoint(
          path.join(dir, CHECKPOINT_FILE),
          { model: model.stateDict(), optimizer: trainer.optimizer },
          { step, rng: trainer.rng.getState(), extra: { history } },
        );
        await ctx.checkpoints.save(dir, step);
      }
    }

    const outDir = path.join(ctx.workdir, 'out', 'generator');
    await rm(outDir, { recursive: true, force: true });
    await saveRarArtifact(outDir, config, model.stateDict());
    const deferred = describeDeferred();
    if (deferred) ctx.log.info(deferred);
    const lastLogged = history.at(-1) as { loss?: number; tokensPerSec?: number } | undefined;
    const metrics: Record<string, Json> = {
      steps: step,
      finalLoss: lastLogged?.loss ?? last?.loss ?? null,
      unigramEntropy: round(entropy),
      tokensPerSec: lastLogged?.tokensPerSec ?? null,
      parameters: model.numParameters(),
    };
    const metricsFile = path.join(ctx.workdir, 'out', 'metrics.json');
    await writeFile(metricsFile, `${JSON.stringify({ backend: backendInfo(), exec: deferredExecutionMode(), config, metrics, history }, null, 2)}\n`);
    return { outputs: { generator: outDir, metrics: metricsFile }, metrics };
  } finally {
    trainer.dispose();
    model.dispose();
  }
}

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : 0;
}

export const generatorTrainStage: StageImpl<GeneratorTrainConfig> = { descriptor: generatorTrainDescriptor, run };
