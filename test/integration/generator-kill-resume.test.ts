/**
 * Kill-and-resume of generator training on the real servers: data → a tiny tokenizer → pretokenized
 * ids → `generator.train`, whose worker is SIGKILLed after its checkpoint of step k reached MinIO. A new
 * worker picks the stage up (heartbeat timeout → retry) and resumes from the newest checkpoint; every
 * loss after k, and the final weights, equal those of an uninterrupted run on the same token shards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { getBlobBytes, type BlobRef } from '../../artifacts/cas';
import { lookupManifest } from '../../artifacts/manifest';
import { initBackend } from '../../compute/backend';
import { SafetensorsReader } from '../../compute/safetensors';
import { generatorTrainConfigSchema } from '../../stages/generator-train-config';
import { generatorTrainStage } from '../../stages/generator-train';
import { cliEnv, parseJson } from '../helpers/cli';
import { runKilledAfterCheckpoint } from '../helpers/kill-resume';
import { tempDir } from '../helpers/servers';
import { testStageContext } from '../helpers/stage-context';

const DATA = { imageSize: 16, numClasses: 4, trainPerClass: 8, valPerClass: 2, seed: 3 };
const TOKENIZER = {
  model: {
    image_size: 16,
    patch_size: 4,
    width: 32,
    depth: 1,
    num_heads: 2,
    codebook_size: 32,
    codebook_embed_dim: 8,
    num_latent_tokens: 16,
    drop_path_rate: 0,
  },
  batchSize: 8,
  epochs: 2,
  optimizer: { lr: 2e-3, scaleLrByBatch: false, minLr: 2e-4, warmupEpochs: 0 },
  losses: { perceptualWeight: 0, semanticWeight: 0 },
  discriminator: { kind: 'conv', startEpoch: 5, scaleLrByBatch: false, lr: 1e-3, warmupEpochs: 0 },
  perturbation: { delta: 2, annealStart: 0, annealEnd: 2 },
  validation: { every: 0, batchSize: 8 },
};
// dropout on, so the resumed run must also restore the dropout and permutation streams
const GENERATOR = {
  model: { hiddenSize: 32, numLayers: 2, numHeads: 2 },
  batchSize: 8,
  maxSteps: 24,
  optimizer: { lr: 3e-3, warmupSteps: 4, endLr: 1e-4 },
  randomnessAnneal: { start: 4, end: 16 },
  logEvery: 1,
};
const SEED = 5;
const EVERY = 4;

interface Row {
  step: number;
  loss: number;
}

test('generator.train: SIGKILL of its worker mid-training, a new worker resumes; losses and weights match an uninterrupted run', async () => {
  const dir = await tempDir('gen-kill');
  const spec = path.join(dir, 'pipeline.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: gen-kill
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
    seed: 1
    config: ${JSON.stringify(TOKENIZER)}
  tokens:
    kind: tokenizer.pretokenize
    inputs: {tokenizer: tok.tokenizer, dataset: data.dataset}
    config: {split: train, mode: flip}
  gen:
    kind: generator.train
    inputs: {tokens: tokens.tokens}
    checkpointEvery: ${EVERY}
    seed: ${SEED}
    config: ${JSON.stringify(GENERATOR)}
`,
  );
  const env = await cliEnv('genkill');
  // only the generator stage checkpoints in this spec
  const { run, killedAfter, store } = await runKilledAfterCheckpoint(spec, env, 8);
  assert.equal(run.code, 0, run.stderr);
  type StageRec = { id: string; key: string; outcome: string; attempts: number; resumedFromStep: number | null; outputs: Record<string, BlobRef> };
  const record = parseJson<{ stages: StageRec[] }>(run);
  const gen = record.stages.find((s) => s.id === 'gen');
  assert.equal(gen?.outcome, 'ran');
  assert.ok((gen?.attempts ?? 0) >= 2, `attempts ${gen?.attempts}`);
  assert.ok(killedAfter < GENERATOR.maxSteps, `the kill came after step ${killedAfter}, before the end`);
  assert.ok((gen?.resumedFromStep ?? 0) >= killedAfter, `resumed from ${gen?.resumedFromStep}, the newest checkpoint before the kill was ${killedAfter}`);
  const resumed = (JSON.parse((await getBlobBytes(store, gen?.outputs.metrics as BlobRef)).toString('utf8')) as { history: Row[] }).history;

  // The uninterrupted reference, in this process, on the very token shards the run trained on.
  const tokensKey = record.stages.find((s) => s.id === 'tokens')?.key as string;
  const found = await lookupManifest(store, tokensKey, { verify: true });
  assert.equal(found.state, 'hit');
  const out = found.state === 'hit' ? found.manifest.outputs.tokens : undefined;
  assert.equal(out?.type, 'dir');
  const local = await mkdtemp(path.join(os.tmpdir(), 'gen-kill-tokens-'));
  for (const f of out?.type === 'dir' ? out.files : []) {
    await mkdir(path.dirname(path.join(local, f.path)), { recursive: true });
    await writeFile(path.join(local, f.path), await getBlobBytes(store, f));
  }
  await initBackend({ log: null });
  const ref = await generatorTrainStage.run(
    await testStageContext({ config: generatorTrainConfigSchema.parse(GENERATOR), inputs: { tokens: local }, seed: SEED, checkpointEvery: EVERY }),
  );
  const full = (JSON.parse(await readFile(ref.outputs.metrics as string, 'utf8')) as { history: Row[] }).history;
  assert.equal(resumed.length, full.length);
  const after = full.filter((r) => r.step > (gen?.resumedFromStep ?? 0));
  assert.ok(after.length > 0);
  for (const r of after) {
    const q = resumed.find((x) => x.step === r.step);
    assert.ok(q && Math.abs(q.loss - r.loss) <= 1e-5 * Math.max(1, Math.abs(r.loss)), `step ${r.step}: ${q?.loss} after the resume vs ${r.loss}`);
  }
  const remote = await lookupManifest(store, gen?.key, { verify: false });
  const genOut = remote.state === 'hit' ? remote.manifest.outputs.generator : undefined;
  const wFile = genOut?.type === 'dir' ? genOut.files.find((f) => f.path === 'model.safetensors') : undefined;
  assert.ok(wFile, 'the generator output holds model.safetensors');
  const remoteFile = path.join(local, 'remote.safetensors');
  await writeFile(remoteFile, await getBlobBytes(store, wFile));
  const [a, b] = await Promise.all([
    SafetensorsReader.open(remoteFile),
    SafetensorsReader.open(path.join(ref.outputs.generator as string, 'model.safetensors')),
  ]);
  let worst = 0;
  try {
    assert.deepEqual(a.names(), b.names());
    for (const name of a.names()) {
      const [x, y] = await Promise.all([a.readArray(name), b.readArray(name)]);
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs((x[i] as number) - (y[i] as number)));
    }
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
  assert.ok(worst <= 1e-5, `largest weight difference after the resume: ${worst}`);
});
