/**
 * The tokenizer.train stage on a tiny synthetic ImageFolder, run as a function with a test context:
 * it learns (validation PSNR rises), a failed attempt resumes from its newest checkpoint and the
 * losses after the resume equal an uninterrupted run's, and a NaN loss is a non-retryable NAN_LOSS
 * naming the step that leaves the last good checkpoint in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../../../compute/backend';
import { PipelineError } from '../../../core/errors';
import { writeSyntheticDataset } from '../../../data/synthetic-images';
import { loadTokenizerArtifact } from '../../../models/tokenizer-artifact';
import { tokenizerTrainConfigSchema, type TokenizerTrainConfig } from '../../../stages/tokenizer-train-config';
import { tokenizerTrainStage } from '../../../stages/tokenizer-train';
import type * as tf from '@tensorflow/tfjs';
import { saveStateDict } from '../../../compute/checkpoint';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../../../models/tokenizer-config';
import { Rng } from '../../../models/training/rng';
import { testStageContext } from '../../helpers/stage-context';
import { expectNoTensorLeak } from '../../helpers/tensors';

const MODEL = {
  image_size: 16,
  patch_size: 4,
  width: 32,
  depth: 1,
  num_heads: 2,
  codebook_size: 64,
  codebook_embed_dim: 8,
  num_latent_tokens: 16,
  drop_path_rate: 0.1,
};

function config(over: Record<string, unknown> = {}): TokenizerTrainConfig {
  return tokenizerTrainConfigSchema.parse({
    model: MODEL,
    batchSize: 8,
    epochs: 4,
    optimizer: { lr: 2e-3, scaleLrByBatch: false, minLr: 2e-4, warmupEpochs: 0 },
    ema: { decay: 0.9 },
    losses: { perceptualWeight: 0, semanticWeight: 0.1 },
    semanticTeacher: 'small',
    discriminator: { kind: 'conv', startEpoch: 2, scaleLrByBatch: false, lr: 1e-3, warmupEpochs: 0 },
    perturbation: { delta: 4, annealStart: 1, annealEnd: 3 },
    validation: { every: 0, batchSize: 16 },
    logEvery: 1,
    ...over,
  });
}

let dataset: string | undefined;
async function data(): Promise<string> {
  if (dataset) return dataset;
  await initBackend({ log: null });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tok-train-data-'));
  await writeSyntheticDataset(dir, { imageSize: 16, numClasses: 4, trainPerClass: 8, valPerClass: 4, seed: 3 });
  dataset = dir;
  return dir;
}

interface HistoryRow {
  step: number;
  loss: number;
  rec: number;
  disc: number;
}

async function history(metricsFile: string): Promise<HistoryRow[]> {
  return (JSON.parse(await readFile(metricsFile, 'utf8')) as { history: HistoryRow[] }).history;
}

test('tokenizer.train learns: validation PSNR rises and the artifact loads', async () => {
  const ctx = await testStageContext({ config: config({ epochs: 6 }), inputs: { dataset: await data() }, seed: 1 });
  // the whole stage (GAN with the adaptive weight, validation, checkpoints) leaves no tensor behind
  const res = await expectNoTensorLeak(() => tokenizerTrainStage.run(ctx), { label: 'tokenizer.train' });
  const m = res.metrics as { steps: number; psnr: number; codebookUsage: number };
  assert.ok(m.steps === 24, `ran ${m.steps} steps`);
  const rows = await history(res.outputs.metrics as string);
  assert.ok((rows.at(-1)?.rec ?? 1) < (rows[0]?.rec ?? 0), 'reconstruction loss fell');
  assert.ok(Number.isFinite(m.psnr) && m.psnr > 0, `psnr ${m.psnr}`);
  assert.ok(m.codebookUsage > 0 && m.codebookUsage <= 1);
  assert.ok(
    rows.some((r) => r.disc !== 0),
    'the discriminator switched on at its start epoch',
  );
  const art = await loadTokenizerArtifact(res.outputs.tokenizer as string);
  assert.deepEqual(art.model.config.image_size, 16);
  art.model.dispose();
});

test('an `init` ViT initialises both trunks before training (and the EMA starts from it)', async () => {
  const dataset = await data(); // initialises the backend
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tok-train-init-'));
  const donor = new RobustokTokenizer(parseTokenizerConfig(MODEL), Rng.fromSeed(5));
  const vit = new Map(
    [...donor.parameters()].filter(([k]) => k.startsWith('encoder.model.')).map(([k, v]) => [k.slice('encoder.model.'.length), v as tf.Tensor]),
  );
  const file = path.join(dir, 'vit.safetensors');
  await saveStateDict(file, vit);
  donor.dispose();
  const ctx = await testStageContext({
    config: config({ maxSteps: 1, discriminator: { kind: 'conv', startEpoch: 3 } }),
    inputs: { dataset, init: file },
    seed: 1,
  });
  await tokenizerTrainStage.run(ctx);
  assert.ok(
    ctx.lines.some((l) => /initialised \d+ encoder and \d+ decoder trunk tensors from vit\.safetensors/.test(l)),
    ctx.lines.join('\n'),
  );
});

test('validate-time checks: the model block and δ against the codebook', () => {
  const bad = tokenizerTrainConfigSchema.safeParse({ model: { ...MODEL, codebook_size: 32 }, perturbation: { delta: 100 } });
  assert.ok(!bad.success && bad.error.issues.some((i) => i.path.join('.') === 'perturbation.delta' && /exceeds codebook_size 32/.test(i.message)));
  const grid = tokenizerTrainConfigSchema.safeParse({ model: { ...MODEL, num_latent_tokens: 15 } });
  assert.ok(!grid.success && grid.error.issues.some((i) => i.path.join('.') === 'model.num_latent_tokens'));
});

test('a failed attempt resumes from its newest checkpoint and continues exactly', async () => {
  const ds = await data();
  const cfg = config();
  const full = await tokenizerTrainStage.run(await testStageContext({ config: cfg, inputs: { dataset: ds }, seed: 7, checkpointEvery: 5 }));
  const fullRows = await history(full.outputs.metrics as string);

  const ckRoot = await mkdtemp(path.join(os.tmpdir(), 'tok-train-ck-'));
  const crash = await testStageContext({
    config: cfg,
    inputs: { dataset: ds },
    seed: 7,
    checkpointEvery: 5,
    checkpointRoot: ckRoot,
    beforeSave: (step) => {
      if (step === 15) throw new Error('simulated worker death at step 15');
    },
  });
  await assert.rejects(tokenizerTrainStage.run(crash), /simulated worker death/);
  assert.deepEqual(crash.saved, [5, 10]);
  const retry = await testStageContext({ config: cfg, inputs: { dataset: ds }, seed: 7, attempt: 2, checkpointEvery: 5, checkpointRoot: ckRoot });
  const resumed = await tokenizerTrainStage.run(retry);
  assert.ok(
    retry.lines.some((l) => /resumed from the checkpoint of step 10/.test(l)),
    retry.lines.join('\n'),
  );
  const rows = await history(resumed.outputs.metrics as string);
  assert.equal(rows.length, fullRows.length);
  for (const r of fullRows.filter((x) => x.step > 10)) {
    const q = rows.find((x) => x.step === r.step);
    assert.ok(q, `step ${r.step} present after resume`);
    assert.ok(Math.abs(q.loss - r.loss) <= 1e-5 * Math.max(1, Math.abs(r.loss)), `step ${r.step}: loss ${q.loss} after resume vs ${r.loss} uninterrupted`);
    assert.ok(Math.abs(q.disc - r.disc) <= 1e-5 * Math.max(1, Math.abs(r.disc)), `step ${r.step}: disc ${q.disc} vs ${r.disc}`);
  }
});

test('a NaN loss fails with NAN_LOSS naming the step; earlier checkpoints stay', async () => {
  const ctx = await testStageContext({
    config: config({ optimizer: { lr: 1e30, scaleLrByBatch: false, minLr: 1e30, warmupEpochs: 0 }, maxGradNorm: 0 }),
    inputs: { dataset: await data() },
    seed: 2,
    checkpointEvery: 1,
  });
  await assert.rejects(tokenizerTrainStage.run(ctx), (e: unknown) => {
    assert.ok(e instanceof PipelineError && e.code === 'NAN_LOSS', String(e));
    assert.match(e.message, /step \d+/);
    assert.equal(e.retryable, false);
    return true;
  });
  for (const s of ctx.saved) assert.ok(Number.isFinite(s));
});
