/**
 * tokenizer.posttrain on tiny pairs: the encoder side named frozen stays bit-identical, the decoder
 * learns towards the real images, the EMA starts from the main-train EMA, and pairs without a real
 * image are a clear INPUT_MISSING.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../../../compute/backend';
import { PipelineError } from '../../../core/errors';
import { writeSyntheticDataset } from '../../../data/synthetic-images';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../../../models/tokenizer-config';
import { loadTokenizerArtifact, saveTokenizerArtifact } from '../../../models/tokenizer-artifact';
import { Rng } from '../../../models/training/rng';
import { tokenizerPosttrainConfigSchema } from '../../../stages/tokenizer-posttrain-config';
import { frozenParameters, tokenizerPosttrainStage } from '../../../stages/tokenizer-posttrain';
import { testStageContext } from '../../helpers/stage-context';
import { expectNoTensorLeak } from '../../helpers/tensors';

const MODEL = parseTokenizerConfig({
  image_size: 16,
  patch_size: 4,
  width: 32,
  depth: 1,
  num_heads: 2,
  codebook_size: 64,
  codebook_embed_dim: 8,
  num_latent_tokens: 16,
  drop_path_rate: 0,
});

/** A main-train artifact (random weights), a dataset, and "generated" images: the real ones with a colour shift. */
async function fixture() {
  await initBackend({ log: null });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'posttrain-'));
  const dataset = path.join(dir, 'data');
  await writeSyntheticDataset(dataset, { imageSize: 16, numClasses: 2, trainPerClass: 8, valPerClass: 2, seed: 1 });
  const pairs = path.join(dir, 'pairs');
  for (const cls of await readdir(path.join(dataset, 'train'))) {
    await mkdir(path.join(pairs, cls), { recursive: true });
    for (const f of await readdir(path.join(dataset, 'train', cls))) {
      await sharp(path.join(dataset, 'train', cls, f))
        .linear(0.8, 20)
        .png()
        .toFile(path.join(pairs, cls, `${path.parse(f).name}.png`));
    }
  }
  const model = new RobustokTokenizer(MODEL, Rng.fromSeed(4));
  const emaModel = new RobustokTokenizer(MODEL, Rng.fromSeed(5));
  const artifact = path.join(dir, 'tok');
  await saveTokenizerArtifact(artifact, { config: MODEL, model: model.stateDict(), ema: emaModel.stateDict() });
  model.dispose();
  emaModel.dispose();
  return { dir, dataset, pairs, artifact };
}

const config = (over: Record<string, unknown> = {}) =>
  tokenizerPosttrainConfigSchema.parse({
    batchSize: 4,
    epochs: 3,
    optimizer: { lr: 2e-3, minLr: 2e-4, warmupEpochs: 0 },
    ema: { decay: 0.5 },
    losses: { perceptualWeight: 0, semanticWeight: 0 },
    semanticTeacher: 'none',
    discriminator: { kind: 'conv', lr: 1e-3, warmupEpochs: 0 },
    validation: { every: 0, batchSize: 8 },
    logEvery: 1,
    ...over,
  });

for (const trainable of ['upstream', 'decoder'] as const) {
  test(`tokenizer.posttrain (${trainable}): frozen parameters stay bit-identical, the decoder learns`, async () => {
    const f = await fixture();
    const ctx = await testStageContext({
      config: config({ trainable, heldOutPairs: 4 }),
      inputs: { tokenizer: f.artifact, pairs: f.pairs, dataset: f.dataset },
      seed: 3,
    });
    const res = await expectNoTensorLeak(() => tokenizerPosttrainStage.run(ctx), { label: 'tokenizer.posttrain' });
    const before = await loadTokenizerArtifact(f.artifact, { weights: 'model' });
    const after = await loadTokenizerArtifact(res.outputs.tokenizer as string, { weights: 'model' });
    const frozen = frozenParameters(before.model, trainable);
    assert.ok(frozen.size > 0);
    const b = before.model.parameters();
    const a = after.model.parameters();
    let changed = 0;
    for (const [name, v] of b) {
      const same = Buffer.from((v.dataSync() as Float32Array).buffer).equals(Buffer.from((a.get(name)?.dataSync() as Float32Array).buffer));
      if (frozen.has(name)) assert.ok(same, `${name} is frozen but changed`);
      else if (!same) changed++;
    }
    assert.ok(a.get('decoder.to_pixel.model.weight') && changed > 0, 'the decoder side changed');
    if (trainable === 'decoder') assert.ok(frozen.has('quantize.embedding.weight') && frozen.has('quant_conv.weight'));
    else assert.ok(!frozen.has('quantize.embedding.weight'), 'upstream trains the codebook');
    const m = res.metrics as { steps: number; frozenParameters: number; pairs: number; pairMseBefore: number; pairMseAfter: number };
    assert.equal(m.pairs, 12, '4 of 16 pairs held out');
    assert.equal(m.steps, 9);
    assert.ok(m.pairMseAfter < m.pairMseBefore, `held-out generated→real error ${m.pairMseBefore} → ${m.pairMseAfter}`);
    assert.ok(m.frozenParameters > 0);
    before.model.dispose();
    after.model.dispose();
    await rm(f.dir, { recursive: true, force: true });
  });
}

test('tokenizer.posttrain: a generated image without its real image is INPUT_MISSING naming it', async () => {
  const f = await fixture();
  await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } })
    .png()
    .toFile(path.join(f.pairs, '00-disc-solid', 'orphan.png'));
  const ctx = await testStageContext({ config: config(), inputs: { tokenizer: f.artifact, pairs: f.pairs, dataset: f.dataset } });
  await assert.rejects(tokenizerPosttrainStage.run(ctx), (e: unknown) => e instanceof PipelineError && e.code === 'INPUT_MISSING' && /orphan/.test(e.message));
  await rm(f.dir, { recursive: true, force: true });
});
