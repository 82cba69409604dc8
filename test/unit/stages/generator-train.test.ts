import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { readTokenDataset, unigramEntropy } from '../../../data/token-dataset';
import { Rar } from '../../../models/rar';
import { loadRar, readRarArtifactConfig } from '../../../models/rar-artifact';
import { RarConfig } from '../../../models/rar-config';
import { crossEntropy, randomOrderRatio, RarTrainer } from '../../../models/training/rar-trainer';
import { Rng, RngStreams } from '../../../models/training/rng';
import { generatorTrainConfigSchema } from '../../../stages/generator-train-config';
import { generatorTrainStage, rarConfigFor } from '../../../stages/generator-train';
import { testStageContext } from '../../helpers/stage-context';
import { expectNoTensorLeak } from '../../helpers/tensors';

let dir = '';
let tokensDir = '';
const L = 8;
const K = 16;

/** Class-dependent sequences with 20% noise: far more predictable in context than by unigram counts. */
async function writeTokens(root: string, count: number): Promise<void> {
  const rng = Rng.fromSeed(11);
  const lines: string[][] = [[], []];
  for (let i = 0; i < count; i++) {
    const c = i % 2;
    const tokens = Array.from({ length: L }, (_, j) => (rng.uniform() < 0.2 ? rng.int(K) : (c * 5 + j * 3) % K));
    (lines[i % 2] as string[]).push(JSON.stringify({ class_id: c, tokens }));
  }
  await writeFile(path.join(root, 'shard-00000.jsonl'), `${(lines[0] as string[]).join('\n')}\n`);
  await writeFile(path.join(root, 'shard-00001.jsonl'), `${(lines[1] as string[]).join('\n')}\n`);
  await writeFile(
    path.join(root, 'manifest.json'),
    JSON.stringify({ count, seq_len: L, codebook_size: K, num_classes: 2, shards: ['shard-00000.jsonl', 'shard-00001.jsonl'] }),
  );
}

before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'generator-train-'));
  tokensDir = path.join(dir, 'tokens');
  await (await import('node:fs/promises')).mkdir(tokensDir);
  await writeTokens(tokensDir, 64);
});
after(() => rm(dir, { recursive: true, force: true }));

const smoke = (over: Record<string, unknown> = {}) =>
  generatorTrainConfigSchema.parse({
    model: { hiddenSize: 32, numLayers: 2, numHeads: 2, dropout: 0, attnDrop: 0 },
    batchSize: 16,
    maxSteps: 40,
    optimizer: { lr: 3e-3, warmupSteps: 5, endLr: 1e-4, weightDecay: 0.03 },
    randomnessAnneal: { start: 5, end: 20 },
    logEvery: 10,
    ...over,
  });

test('token dataset reader validates lines and the manifest', async () => {
  const d = await readTokenDataset(tokensDir);
  assert.equal(d.count, 64);
  assert.equal(d.tokens.length, 64 * L);
  assert.ok(unigramEntropy(d.tokens, K) > 2);
  const bad = path.join(dir, 'bad');
  await (await import('node:fs/promises')).mkdir(bad);
  await writeFile(path.join(bad, 'manifest.json'), JSON.stringify({ count: 1, seq_len: L, codebook_size: K, num_classes: 2, shards: ['s.jsonl'] }));
  await writeFile(path.join(bad, 's.jsonl'), JSON.stringify({ class_id: 0, tokens: [1, 2, 3] }));
  await assert.rejects(readTokenDataset(bad), (e: Error & { code?: string }) => e.code === 'DATA_CORRUPT' && e.message.includes('s.jsonl:1'));
  await assert.rejects(readTokenDataset(path.join(dir, 'nowhere')), { code: 'INPUT_MISSING' });
});

test('config: presets, sizes from the dataset; anneal and cross-entropy', () => {
  const data = { seqLen: 256, codebookSize: 4096, numClasses: 1000 };
  const b = rarConfigFor(generatorTrainConfigSchema.parse({}), data);
  assert.equal(b.hiddenSize, 768);
  assert.equal(b.intermediateSize, 3072);
  assert.equal(rarConfigFor(generatorTrainConfigSchema.parse({ model: { preset: 'rar-l' } }), data).intermediateSize, 4096);
  assert.equal(rarConfigFor(smoke(), { seqLen: L, codebookSize: K, numClasses: 2 }).intermediateSize, 128);
  assert.throws(() => rarConfigFor(generatorTrainConfigSchema.parse({ model: { hiddenSize: 8 } }), data), { code: 'CONFIG_INVALID' });
  assert.deepEqual(
    [0, 125_000, 156_250, 187_500, 200_000].map((s) => randomOrderRatio(s, 125_000, 187_500)),
    [1, 1, 0.5, 0, 0],
  );
  const ce = tf.tidy(
    () =>
      crossEntropy(
        tf.tensor2d([
          [0, Math.log(3)],
          [0, 0],
        ]),
        tf.tensor1d([1, 0], 'int32'),
      ).dataSync()[0] as number,
  );
  assert.ok(Math.abs(ce - (-Math.log(3 / 4) - Math.log(1 / 2)) / 2) < 1e-6);
});

test('trains below the unigram entropy and writes a loadable generator', async () => {
  const ctx = await testStageContext({ config: smoke(), inputs: { tokens: tokensDir }, seed: 3 });
  const res = await expectNoTensorLeak(() => generatorTrainStage.run(ctx), { label: 'generator.train' });
  const m = res.metrics as { finalLoss: number; unigramEntropy: number; steps: number; tokensPerSec: number };
  assert.equal(m.steps, 40);
  assert.ok(m.finalLoss < m.unigramEntropy, `final loss ${m.finalLoss} vs unigram entropy ${m.unigramEntropy}`);
  assert.ok(ctx.progressLog.at(-1)?.message?.includes('tok/s'));
  const cfg = await readRarArtifactConfig(res.outputs.generator!);
  assert.equal(cfg.codebookSize, K);
  const g = await loadRar(res.outputs.generator!);
  assert.equal(g.numParameters(), (JSON.parse(await readFile(res.outputs.metrics!, 'utf8')) as { metrics: { parameters: number } }).metrics.parameters);
  g.dispose();
});

test('kill and resume continues exactly', async () => {
  const config = smoke({ maxSteps: 12, model: { hiddenSize: 32, numLayers: 2, numHeads: 2 } }); // with dropout
  const straight = await generatorTrainStage.run(await testStageContext({ config, inputs: { tokens: tokensDir }, seed: 5, checkpointEvery: 4 }));
  const root = path.join(dir, 'ck');
  const crash = await testStageContext({
    config,
    inputs: { tokens: tokensDir },
    seed: 5,
    checkpointEvery: 4,
    checkpointRoot: root,
    beforeSave: (s) => {
      if (s === 8) throw new Error('worker died');
    },
  });
  await assert.rejects(generatorTrainStage.run(crash), /worker died/);
  const resumed = await testStageContext({ config, inputs: { tokens: tokensDir }, seed: 5, checkpointEvery: 4, checkpointRoot: root, attempt: 2 });
  const res = await generatorTrainStage.run(resumed);
  assert.ok(resumed.lines.some((l) => l.includes('resumed from the checkpoint of step 4')));
  const [a, b] = await Promise.all([
    readFile(path.join(straight.outputs.generator!, 'model.safetensors')),
    readFile(path.join(res.outputs.generator!, 'model.safetensors')),
  ]);
  assert.ok(a.equals(b), 'weights after resume equal the uninterrupted run');
});

test('a non-finite loss is a non-retryable error naming the step', () => {
  const cfg = RarConfig.parse({ hiddenSize: 8, numLayers: 1, numHeads: 2, intermediateSize: 16, imageSeqLen: 4, codebookSize: 6, numClasses: 2 });
  const m = new Rar(cfg, Rng.fromSeed(1));
  const t = new RarTrainer(m, { beta1: 0.9, beta2: 0.96, weightDecay: 0, maxGradNorm: 1, anneal: { start: 0, end: 1 }, rng: new RngStreams(1) });
  m.lmHead.bias!.assign(tf.fill([6], Number.NaN));
  assert.throws(
    () => t.step(new Int32Array(8), new Int32Array(2), { lr: 1e-3, step: 7 }),
    (e: Error & { code?: string }) => e.code === 'NAN_LOSS' && e.message.includes('step 7'),
  );
  t.dispose();
  m.dispose();
});
