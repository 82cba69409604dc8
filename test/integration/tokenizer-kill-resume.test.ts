/**
 * Kill-and-resume of tokenizer training on the real servers: the worker running `tokenizer.train` is
 * SIGKILLed after its checkpoint of step k reached MinIO; a new worker picks the stage up (heartbeat
 * timeout → retry), resumes from the newest checkpoint, and every loss after k equals the one an
 * uninterrupted run with the same seed logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getBlobBytes } from '../../artifacts/cas';
import { initBackend } from '../../compute/backend';
import { writeSyntheticDataset } from '../../data/synthetic-images';
import { tokenizerTrainConfigSchema } from '../../stages/tokenizer-train-config';
import { tokenizerTrainStage } from '../../stages/tokenizer-train';
import { cliEnv, parseJson } from '../helpers/cli';
import { runKilledAfterCheckpoint } from '../helpers/kill-resume';
import { tempDir } from '../helpers/servers';
import { testStageContext } from '../helpers/stage-context';

const DATA = { imageSize: 16, numClasses: 4, trainPerClass: 8, valPerClass: 2, seed: 3 };
const TRAIN = {
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
  epochs: 10,
  optimizer: { lr: 2e-3, scaleLrByBatch: false, minLr: 2e-4, warmupEpochs: 0 },
  ema: { decay: 0.9 },
  losses: { perceptualWeight: 0, semanticWeight: 0.1 },
  semanticTeacher: 'small',
  discriminator: { kind: 'conv', startEpoch: 2, scaleLrByBatch: false, lr: 1e-3, warmupEpochs: 0 },
  perturbation: { delta: 4, annealStart: 1, annealEnd: 3 },
  validation: { every: 0, batchSize: 8 },
  logEvery: 1,
};
const SEED = 5;
const EVERY = 4;

interface Row {
  step: number;
  loss: number;
  disc: number;
}

test('tokenizer.train: SIGKILL of its worker mid-training, a new worker resumes and the losses match an uninterrupted run', async () => {
  const dir = await tempDir('tok-kill');
  const spec = path.join(dir, 'pipeline.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: tok-kill
defaults:
  retry: {maximumAttempts: 3, initialInterval: 200ms}
  timeouts: {startToClose: 20m, heartbeat: 5s}
stages:
  data:
    kind: dataset.synthetic
    config: ${JSON.stringify(DATA)}
  tok:
    kind: tokenizer.train
    inputs: {dataset: data.dataset}
    checkpointEvery: ${EVERY}
    seed: ${SEED}
    config: ${JSON.stringify(TRAIN)}
`,
  );
  const env = await cliEnv('tokkill');
  const { run, killedAfter, store } = await runKilledAfterCheckpoint(spec, env, 8);
  assert.equal(run.code, 0, run.stderr);
  const record = parseJson<{
    stages: { id: string; outcome: string; attempts: number; resumedFromStep: number | null; outputs: Record<string, { digest: string; bytes: number }> }[];
  }>(run);
  const tok = record.stages.find((s) => s.id === 'tok');
  assert.equal(tok?.outcome, 'ran');
  assert.ok((tok?.attempts ?? 0) >= 2, `attempts ${tok?.attempts}`);
  assert.ok((tok?.resumedFromStep ?? 0) >= killedAfter, `resumed from ${tok?.resumedFromStep}, the newest checkpoint before the kill was ${killedAfter}`);
  const metricsRef = tok?.outputs.metrics;
  assert.ok(metricsRef);
  const resumed = (JSON.parse((await getBlobBytes(store, metricsRef)).toString('utf8')) as { history: Row[] }).history;

  // The same stage, uninterrupted, in this process (dataset.synthetic is byte-identical for the same config).
  await initBackend({ log: null });
  const local = await mkdtemp(path.join(os.tmpdir(), 'tok-kill-ref-'));
  await writeSyntheticDataset(local, DATA);
  const ref = await tokenizerTrainStage.run(
    await testStageContext({ config: tokenizerTrainConfigSchema.parse(TRAIN), inputs: { dataset: local }, seed: SEED, checkpointEvery: EVERY }),
  );
  const full = (JSON.parse(await readFile(ref.outputs.metrics as string, 'utf8')) as { history: Row[] }).history;
  assert.equal(resumed.length, full.length);
  const after = full.filter((r) => r.step > (tok?.resumedFromStep ?? 0));
  assert.ok(after.length > 0);
  for (const r of after) {
    const q = resumed.find((x) => x.step === r.step);
    assert.ok(q && Math.abs(q.loss - r.loss) <= 1e-5 * Math.max(1, Math.abs(r.loss)), `step ${r.step}: ${q?.loss} after the resume vs ${r.loss}`);
    assert.ok(q && Math.abs(q.disc - r.disc) <= 1e-5 * Math.max(1, Math.abs(r.disc)), `step ${r.step}: disc ${q?.disc} vs ${r.disc}`);
  }
});
