/**
 * tokenizer.train run with its steps as TensorFlow graphs (the default on the native backend,
 * compute/deferred-execution.ts) against ROBUSTOK_NATIVE_EXEC=eager: the whole step — GAN with the
 * adaptive weight, DiffAugment's random crops, the semantic loss, latent perturbation, EMA — gives the
 * same per-step losses and the same weights, and graphs did run. Skipped without the native backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { onNativeBackend } from '../../helpers/native-backend';
import { deferredStats } from '../../../compute/deferred-execution';
import { writeSyntheticDataset } from '../../../data/synthetic-images';
import { loadTokenizerArtifact } from '../../../models/tokenizer-artifact';
import { tokenizerTrainConfigSchema } from '../../../stages/tokenizer-train-config';
import { tokenizerTrainStage } from '../../../stages/tokenizer-train';
import { testStageContext } from '../../helpers/stage-context';

const config = () =>
  tokenizerTrainConfigSchema.parse({
    model: {
      image_size: 16,
      patch_size: 4,
      width: 32,
      depth: 1,
      num_heads: 2,
      codebook_size: 64,
      codebook_embed_dim: 8,
      num_latent_tokens: 16,
      drop_path_rate: 0.1,
    },
    batchSize: 8,
    epochs: 3,
    optimizer: { lr: 2e-3, scaleLrByBatch: false, minLr: 2e-4, warmupEpochs: 0 },
    ema: { decay: 0.9 },
    losses: { perceptualWeight: 0, semanticWeight: 0.1 },
    semanticTeacher: 'small',
    discriminator: { kind: 'conv', startEpoch: 1, scaleLrByBatch: false, lr: 1e-3, warmupEpochs: 0 },
    perturbation: { delta: 4, annealStart: 1, annealEnd: 3 },
    validation: { every: 0, batchSize: 16 },
    logEvery: 1,
  });

async function runStage(dataset: string, exec: 'graph' | 'eager'): Promise<{ history: unknown[]; weights: Map<string, Float32Array> }> {
  const saved = process.env.ROBUSTOK_NATIVE_EXEC;
  process.env.ROBUSTOK_NATIVE_EXEC = exec;
  try {
    const res = await tokenizerTrainStage.run(await testStageContext({ config: config(), inputs: { dataset }, seed: 4 }));
    const metrics = JSON.parse(await readFile(res.outputs.metrics as string, 'utf8')) as { exec: string; history: { imagesPerSec?: number }[] };
    assert.equal(metrics.exec, exec, 'metrics.json records how the steps ran');
    const art = await loadTokenizerArtifact(res.outputs.tokenizer as string);
    const weights = new Map([...art.model.parameters()].map(([k, v]) => [k, v.dataSync() as Float32Array]));
    art.model.dispose();
    // throughput differs between the modes; everything else in a history row must not
    return { history: metrics.history.map(({ imagesPerSec: _ips, ...row }) => row), weights };
  } finally {
    if (saved === undefined) delete process.env.ROBUSTOK_NATIVE_EXEC;
    else process.env.ROBUSTOK_NATIVE_EXEC = saved;
  }
}

test('tokenizer.train: graph-run steps give the losses and weights of eager steps', async (t) => {
  await onNativeBackend(t, async () => {
    const dataset = await mkdtemp(path.join(os.tmpdir(), 'exec-modes-data-'));
    await writeSyntheticDataset(dataset, { imageSize: 16, numClasses: 4, trainPerClass: 8, valPerClass: 4, seed: 3 });
    const eager = await runStage(dataset, 'eager');
    const runs0 = deferredStats()?.graphRuns ?? 0;
    const graph = await runStage(dataset, 'graph');
    assert.ok((deferredStats()?.graphRuns ?? 0) - runs0 > 0, 'graphs ran');
    assert.deepEqual(graph.history, eager.history, 'per-step losses');
    assert.deepEqual([...graph.weights.keys()], [...eager.weights.keys()]);
    for (const [k, v] of eager.weights) assert.ok(tf.util.arraysEqual(graph.weights.get(k) as Float32Array, v), `${k} bit-identical`);
  });
});
