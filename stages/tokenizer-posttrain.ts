/**
 * The `tokenizer.posttrain` stage kind: decoder post-training on σ-paired data (dossier §8). The
 * main-train tokenizer re-encodes each generated image (its encoder backbone frozen) and learns to
 * reconstruct the real image the generation was teacher-forced from; no latent perturbation; a fresh
 * discriminator is on from the first step; the EMA continues from the main-train EMA. Everything else
 * — losses, loop, checkpoints and exact resume, validation, outputs — is main training's.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../compute/backend';
import { loadStateDictFile } from '../compute/checkpoint';
import { PipelineError } from '../core/errors';
import { listPairs, PairBatchLoader } from '../data/pair-batches';
import { psnr } from '../metrics/image-quality';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { EMA_WEIGHTS, loadTokenizerWeights, MODEL_WEIGHTS, readTokenizerArtifactConfig } from '../models/tokenizer-artifact';
import { RngStreams } from '../models/training/rng';
import { buildLossNetworks } from '../models/training/tokenizer-loss-networks';
import type { StageContext, StageImpl, StageResult } from './stage';
import { tokenizerPosttrainDescriptor, tokenizerPosttrainConfigSchema, type TokenizerPosttrainConfig } from './tokenizer-posttrain-config';
import { splitRoot, tokenizerSchedules, trainerFromConfig } from './tokenizer-train';
import { runTokenizerTraining } from './tokenizer-training-loop';
import { existsSync } from 'node:fs';

/** Parameter names frozen for each `trainable` setting (see the config's header). */
export function frozenParameters(model: RobustokTokenizer, trainable: TokenizerPosttrainConfig['trainable']): Set<string> {
  if (trainable === 'upstream') return new Set(model.encoderBackboneParameterNames());
  const encoderSide = ['encoder.', 'quant_conv.', 'quantize.'];
  return new Set([...model.parameters().keys()].filter((n) => encoderSide.some((p) => n.startsWith(p))));
}

/** Reconstruction error of real images from their generated counterparts: what post-training lowers (non-EMA model, no drop-path). */
async function pairError(model: RobustokTokenizer, pairs: PairBatchLoader): Promise<{ mse: number; psnr: number }> {
  let se = 0;
  let psnrSum = 0;
  let n = 0;
  for await (const b of pairs.inOrder()) {
    const input = tf.tensor4d(b.input, b.shape);
    const target = tf.tensor4d(b.target, b.shape);
    const recon = tf.tidy(() => model.forward(input, { training: false }).recon as tf.Tensor4D);
    const mse = tf.tidy(() => recon.sub(target).square().mean([1, 2, 3]));
    const p = psnr(target, recon);
    for (const v of mse.dataSync()) se += v;
    for (const v of p.dataSync()) psnrSum += Math.min(v, 100);
    n += b.shape[0];
    tf.dispose([input, target, recon, mse, p]);
  }
  return { mse: n ? se / n : 0, psnr: n ? psnrSum / n : 0 };
}

function need(ctx: StageContext<unknown>, name: string, what: string): string {
  const p = ctx.inputs[name];
  if (p === undefined) throw new PipelineError('INPUT_MISSING', `tokenizer.posttrain needs the \`${name}\` input (${what})`);
  return p;
}

async function run(ctx: StageContext<TokenizerPosttrainConfig>): Promise<StageResult> {
  // Re-parsed here, not trusted as planned: a worker running newer code than the CLI that planned the
  // run must still see every default filled (an absent key would otherwise read as undefined).
  const c = tokenizerPosttrainConfigSchema.parse(ctx.config);
  await initBackend({ log: (l) => ctx.log.info(l) });
  const artifact = need(ctx, 'tokenizer', 'the main-train tokenizer artifact');
  const pairsRoot = need(ctx, 'pairs', 'the generated images of posttrain.pairs');
  const datasetRoot = need(ctx, 'dataset', 'the real images the pairs were generated from');
  const modelConfig = await readTokenizerArtifactConfig(artifact);
  const allPairs = await listPairs(pairsRoot, splitRoot(datasetRoot, c.pairSplit));
  if (c.heldOutPairs >= allPairs.length)
    throw new PipelineError('CONFIG_INVALID', `heldOutPairs ${c.heldOutPairs} leaves no pairs to train on (there are ${allPairs.length})`);
  const loaderOpts = { imageSize: modelConfig.image_size, batchSize: c.batchSize, skipCorrupt: c.skipCorrupt, log: (m: string) => ctx.log.warn(m) };
  const loader = new PairBatchLoader(allPairs.slice(0, allPairs.length - c.heldOutPairs), loaderOpts);
  const heldOut =
    c.heldOutPairs > 0
      ? new PairBatchLoader(allPairs.slice(allPairs.length - c.heldOutPairs), { ...loaderOpts, batchSize: c.validation.batchSize })
      : undefined;
  const stepsPerEpoch = loader.stepsPerEpoch();
  if (stepsPerEpoch === 0)
    throw new PipelineError(
      'CONFIG_INVALID',
      `batchSize ${c.batchSize} is larger than the ${loader.pairs.length} pairs: lower batchSize or generate more pairs`,
    );
  const totalSteps = c.maxSteps > 0 ? Math.min(c.maxSteps, c.epochs * stepsPerEpoch) : c.epochs * stepsPerEpoch;

  const rng = new RngStreams(ctx.seed);
  const model = new RobustokTokenizer(modelConfig, rng.stream('init'));
  const emaFile = path.join(artifact, EMA_WEIGHTS);
  const hasEma = existsSync(emaFile);
  if (c.init === 'ema' && !hasEma) throw new PipelineError('INPUT_MISSING', `${artifact} has no ${EMA_WEIGHTS}: set init: model`);
  await loadTokenizerWeights(model, path.join(artifact, c.init === 'ema' ? EMA_WEIGHTS : MODEL_WEIGHTS));
  const frozen = frozenParameters(model, c.trainable);
  const nets = await buildLossNetworks(c, ctx.inputs, model, rng);
  const trainer = trainerFromConfig(c, model, nets, rng, frozen);
  // The EMA continues from the main-train EMA (upstream loads `ema` into its EMA copy).
  if (hasEma) {
    const ema = trainer.ema.tensors();
    await loadStateDictFile(ema, emaFile, { ignore: (n) => !ema.has(n) });
  }
  let frozenCount = 0;
  for (const n of frozen) frozenCount += model.parameters().get(n)?.size ?? 0;
  ctx.log.info(
    `post-training ${c.trainable === 'upstream' ? 'everything but the encoder backbone (upstream)' : 'the decoder side only'}: ${frozenCount} of ${model.numParameters()} parameters frozen`,
  );
  const valRoot = splitRoot(datasetRoot, c.valSplit);
  const before = heldOut ? await pairError(model, heldOut) : undefined;
  if (before) ctx.log.info(`held-out pairs before post-training: MSE ${before.mse.toFixed(5)}, PSNR ${before.psnr.toFixed(2)} dB`);
  try {
    const result = await runTokenizerTraining(ctx, {
      stage: 'tokenizer.posttrain',
      model,
      trainer,
      nets,
      rng,
      source: {
        stepsPerEpoch: () => loader.stepsPerEpoch(),
        epoch: (e, r, s) => loader.epoch(e, r, s),
      },
      totalSteps,
      schedules: tokenizerSchedules(c, stepsPerEpoch),
      // β = 0 in the post-train config: no latent perturbation
      perturbation: () => undefined,
      valRoot: valRoot !== splitRoot(datasetRoot, c.pairSplit) ? valRoot : undefined,
      validation: c.validation,
      skipCorrupt: c.skipCorrupt,
      logEvery: c.logEvery,
      info: { pairs: loader.pairs.length, frozenParameters: frozenCount, trainable: c.trainable },
    });
    if (!heldOut || !before) return result;
    const after = await pairError(model, heldOut);
    ctx.log.info(`held-out pairs after post-training: MSE ${after.mse.toFixed(5)}, PSNR ${after.psnr.toFixed(2)} dB`);
    const metrics = {
      ...result.metrics,
      heldOutPairs: c.heldOutPairs,
      pairMseBefore: before.mse,
      pairMseAfter: after.mse,
      pairPsnrBefore: before.psnr,
      pairPsnrAfter: after.psnr,
    };
    const file = result.outputs.metrics as string;
    const json = JSON.parse(await readFile(file, 'utf8')) as { metrics: Record<string, unknown> };
    await writeFile(file, `${JSON.stringify({ ...json, metrics }, null, 2)}\n`);
    return { ...result, metrics };
  } finally {
    trainer.dispose();
    nets.dispose();
    model.dispose();
  }
}

export const tokenizerPosttrainStage: StageImpl<TokenizerPosttrainConfig> = { descriptor: tokenizerPosttrainDescriptor, run };
