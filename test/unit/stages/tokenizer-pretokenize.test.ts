/**
 * tokenizer.pretokenize on a tiny synthetic ImageFolder with a random-weight tokenizer: ids of the
 * EMA weights in image-then-crop order, both modes, ids that decode to exactly the forward pass's
 * reconstructions, parts + merge equal to one run, and a resumed run equal to an uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { validateCommand } from '../../../cli/commands/validate';
import { initBackend } from '../../../compute/backend';
import { deferredStats } from '../../../compute/deferred-execution';
import { isPipelineError } from '../../../core/errors';
import { centerCropArr, flipHorizontal, tenCrop, writeChwSigned } from '../../../data/adm-crop';
import { openImageFolder } from '../../../data/image-folder';
import { decodeRgb, type RgbImage } from '../../../data/images';
import { readTokenDataset } from '../../../data/token-dataset';
import { readTokenEntries, readTokenManifest, type TokenManifest } from '../../../data/token-shards';
import { writeSyntheticDataset } from '../../../data/synthetic-images';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../../../models/tokenizer-config';
import { saveTokenizerArtifact } from '../../../models/tokenizer-artifact';
import { Rng } from '../../../models/training/rng';
import { tokenizerPretokenizeConfigSchema, type TokenizerPretokenizeConfig } from '../../../stages/tokenizer-pretokenize-config';
import { tokenizerPretokenizeMergeStage, tokenizerPretokenizeStage } from '../../../stages/tokenizer-pretokenize';
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
});

interface Fixture {
  dataset: string;
  tokenizer: string;
  /** The weights the stage should use by default. */
  ema: RobustokTokenizer;
}

let fixture: Promise<Fixture> | undefined;
function setup(): Promise<Fixture> {
  fixture ??= (async () => {
    await initBackend({ log: null });
    const dataset = await mkdtemp(path.join(os.tmpdir(), 'pretok-data-'));
    await writeSyntheticDataset(dataset, { imageSize: 20, numClasses: 3, trainPerClass: 3, valPerClass: 1, seed: 4 });
    const tokenizer = await mkdtemp(path.join(os.tmpdir(), 'pretok-tok-'));
    const model = new RobustokTokenizer(MODEL, Rng.fromSeed(1));
    const ema = new RobustokTokenizer(MODEL, Rng.fromSeed(2));
    await saveTokenizerArtifact(tokenizer, { config: MODEL, model: model.stateDict(), ema: ema.stateDict() });
    model.dispose();
    return { dataset, tokenizer, ema };
  })();
  return fixture;
}

const config = (over: Record<string, unknown> = {}): TokenizerPretokenizeConfig =>
  tokenizerPretokenizeConfigSchema.parse({ batchSize: 6, imagesPerShard: 4, ...over });

async function runStage(over: Record<string, unknown> = {}, ctxOver: Record<string, unknown> = {}) {
  const f = await setup();
  const ctx = await testStageContext({ config: config(over), inputs: { tokenizer: f.tokenizer, dataset: f.dataset }, ...ctxOver });
  const result = await tokenizerPretokenizeStage.run(ctx);
  return { ctx, result, dir: result.outputs.tokens as string };
}

async function entries(dir: string) {
  const out: { class_id: number; tokens: number[] }[] = [];
  for await (const e of readTokenEntries(dir)) out.push(e);
  return out;
}

function toBatch(views: readonly RgbImage[], size: number): tf.Tensor4D {
  const data = new Float32Array(views.length * 3 * size * size);
  views.forEach((v, i) => writeChwSigned(v, data, i * 3 * size * size));
  return tf.tensor4d(data, [views.length, 3, size, size]);
}

async function fileBytes(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of (await readdir(dir)).sort()) out.set(f, await readFile(path.join(dir, f), 'utf8'));
  return out;
}

test('flip mode: manifest, shards, EMA ids in image order then [original, mirror], ids decode to the forward recon exactly', async () => {
  const f = await setup();
  const { dir, result } = await runStage();
  const m = await readTokenManifest(dir);
  const want: Partial<TokenManifest> = {
    count: 18,
    seq_len: 16,
    codebook_size: 64,
    num_classes: 3,
    mode: 'flip',
    entries_per_image: 2,
    image_size: 16,
    images_per_shard: 4,
    total_images: 9,
    weights: 'ema',
  };
  for (const [k, v] of Object.entries(want)) assert.deepEqual(m[k as keyof TokenManifest], v, k);
  assert.deepEqual(m.classes, ['00-disc-solid', '01-square-solid', '02-triangle-solid']);
  assert.deepEqual(m.shards, ['shard-00000.jsonl', 'shard-00001.jsonl', 'shard-00002.jsonl']);
  assert.deepEqual(m.shard_counts, [8, 8, 2]);
  assert.equal(m.part, undefined);
  assert.deepEqual(result.metrics && { entries: result.metrics.entries, images: result.metrics.images, skipped: result.metrics.skipped }, {
    entries: 18,
    images: 9,
    skipped: 0,
  });
  const lines = (await readFile(path.join(dir, 'shard-00000.jsonl'), 'utf8')).trimEnd().split('\n');
  assert.match(lines[0] as string, /^\{"class_id":0,"tokens":\[(\d+,){15}\d+\]\}$/);

  const got = await entries(dir);
  assert.deepEqual(
    got.map((e) => e.class_id),
    [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2],
  );
  // generator.train's reader takes this output as it is.
  const ds = await readTokenDataset(dir);
  assert.deepEqual([ds.count, ds.seqLen, ds.codebookSize, ds.numClasses], [18, 16, 64, 3]);
  assert.deepEqual(Array.from(ds.tokens.subarray(16, 32)), got[1]?.tokens);
  assert.deepEqual(
    Array.from(ds.classes),
    got.map((e) => e.class_id),
  );
  const folder = await openImageFolder(path.join(f.dataset, 'train'));
  const views: RgbImage[] = [];
  for (const s of folder.samples) {
    const crop = await centerCropArr(await decodeRgb(s.path), 16);
    views.push(crop, flipHorizontal(crop));
  }
  await expectNoTensorLeak(async () => {
    const x = toBatch(views, 16);
    const fwd = f.ema.forward(x);
    assert.deepEqual(
      got.map((e) => e.tokens),
      (await fwd.codes.array()) as number[][],
    );
    const ids = tf.tensor2d(
      got.map((e) => e.tokens),
      [got.length, 16],
      'int32',
    );
    const recon = f.ema.decodeCodes(ids);
    assert.deepEqual(await recon.data(), await fwd.recon.data(), 'decode(ids) = forward recon, bit for bit');
    tf.dispose([x, ids, recon, fwd.recon, fwd.codes, fwd.latents, fwd.quant, fwd.codebookLoss, fwd.commitLoss]);
  });
});

test('weights: model picks the non-EMA weights; the val split is selectable', async () => {
  const f = await setup();
  const { dir } = await runStage({ weights: 'model', split: 'val' });
  const m = await readTokenManifest(dir);
  assert.deepEqual([m.weights, m.total_images, m.count], ['model', 3, 6]);
  const ema = await runStage({ split: 'val' });
  assert.notDeepEqual(await entries(dir), await entries(ema.dir));
  void f;
});

test('ten-crop mode: 10 entries per image in torchvision TenCrop order', async () => {
  const f = await setup();
  const { dir } = await runStage({ mode: 'ten-crop', batchSize: 25, imagesPerShard: 100 });
  const m = await readTokenManifest(dir);
  assert.deepEqual([m.count, m.entries_per_image, m.shards.length], [90, 10, 1]);
  const got = await entries(dir);
  const folder = await openImageFolder(path.join(f.dataset, 'train'));
  const crops = await tenCrop(await decodeRgb(folder.samples[4]?.path as string), 16);
  await expectNoTensorLeak(async () => {
    const x = toBatch(crops, 16);
    const ids = f.ema.encodeCodes(x);
    assert.deepEqual(
      got.slice(40, 50).map((e) => e.tokens),
      await ids.array(),
    );
    assert.deepEqual(
      got.slice(40, 50).map((e) => e.class_id),
      Array(10).fill(1),
    );
    tf.dispose([x, ids]);
  });
});

test('parts encoded separately and merged equal one run, byte for byte', async () => {
  const whole = await runStage();
  const parts = await Promise.all([0, 1].map((index) => runStage({ part: { index, count: 2 } })));
  const [p0, p1] = await Promise.all(parts.map((p) => readTokenManifest(p.dir)));
  assert.deepEqual([p0?.shards, p1?.shards], [['shard-00000.jsonl'], ['shard-00001.jsonl', 'shard-00002.jsonl']]);
  assert.deepEqual(p1?.part, { index: 1, count: 2, total_shards: 3 });
  const ctx = await testStageContext({ config: {}, inputs: { b: parts[1]?.dir as string, a: parts[0]?.dir as string } });
  const merged = await tokenizerPretokenizeMergeStage.run(ctx);
  assert.deepEqual(await fileBytes(merged.outputs.tokens as string), await fileBytes(whole.dir));
  const only = await testStageContext({ config: {}, inputs: { a: parts[0]?.dir as string } });
  await assert.rejects(tokenizerPretokenizeMergeStage.run(only), (e) => isPipelineError(e, 'INPUT_MISSING') && /1 of 3 shards/.test(e.message));
});

test('a retried attempt resumes after the finished shards and ends with the same output', async () => {
  const whole = await runStage();
  const root = await mkdtemp(path.join(os.tmpdir(), 'pretok-ck-'));
  await assert.rejects(
    runStage(
      {},
      {
        checkpointEvery: 1,
        checkpointRoot: root,
        beforeSave: (s: number) => {
          if (s === 2) throw new Error('worker killed');
        },
      },
    ),
    /worker killed/,
  );
  const again = await runStage({}, { checkpointEvery: 1, checkpointRoot: root, attempt: 2 });
  assert.ok(
    again.ctx.lines.some((l) => /resuming after 1 finished shard/.test(l)),
    again.ctx.lines.join('\n'),
  );
  assert.deepEqual(again.ctx.progressLog[0]?.total, 5, 'only the 5 images of the last two shards are encoded again');
  assert.deepEqual(await fileBytes(again.dir), await fileBytes(whole.dir));
});

test('a missing input or a non-artifact tokenizer is a clear error', async () => {
  const f = await setup();
  const ctx = await testStageContext({ config: config(), inputs: { dataset: f.dataset } });
  await assert.rejects(tokenizerPretokenizeStage.run(ctx), (e) => isPipelineError(e, 'INPUT_MISSING') && /tokenizer/.test(e.message));
  const bad = await testStageContext({ config: config(), inputs: { dataset: f.dataset, tokenizer: f.dataset } });
  await assert.rejects(tokenizerPretokenizeStage.run(bad), (e) => isPipelineError(e, 'INPUT_MISSING') && /not a tokenizer artifact/.test(e.message));
});

test('robustok validate accepts dataset.synthetic → tokenizer.pretokenize parts → merge', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pretok-spec-'));
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: pretokenize-smoke
stages:
  data:
    kind: dataset.synthetic
    config: {imageSize: 16, numClasses: 3, trainPerClass: 4, valPerClass: 1}
  tok:
    kind: command
    config:
      argv: [mkdir, '\${outputs.dir}']
      outputs: {dir: tokenizer}
  part0:
    kind: tokenizer.pretokenize
    inputs: {tokenizer: tok.dir, dataset: data.dataset}
    config: {mode: ten-crop, part: {index: 0, count: 2}}
  part1:
    kind: tokenizer.pretokenize
    inputs: {tokenizer: tok.dir, dataset: data.dataset}
    config: {mode: ten-crop, part: {index: 1, count: 2}}
  tokens:
    kind: tokenizer.pretokenize-merge
    inputs: {a: part0.tokens, b: part1.tokens}
`,
  );
  const logged: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => logged.push(a.join(' '));
  console.error = (...a: unknown[]) => logged.push(a.join(' '));
  try {
    assert.equal(await validateCommand(spec, { set: [], json: true }), 0, logged.join('\n'));
    logged.length = 0;
    assert.equal(await validateCommand(spec, { set: ['stages.part1.config.part.index=2'], json: false }), 2);
    assert.match(logged.join('\n'), /part\.index must be < part\.count/);
  } finally {
    console.log = log;
    console.error = error;
  }
});

test('on the native backend each batch encodes as a TensorFlow graph, with the bytes of an eager run', async (t) => {
  await setup();
  if (tf.getBackend() !== 'tensorflow') return t.skip('tfjs-node not available: batches run eagerly anyway');
  const runs0 = deferredStats()?.graphRuns ?? 0;
  const graph = await runStage({ batchSize: 2 }); // batches of one shape (and a last, smaller one): learned once, then replayed
  assert.ok((deferredStats()?.graphRuns ?? 0) > runs0, `graphs ran (${JSON.stringify(deferredStats())})`);
  const saved = process.env.ROBUSTOK_NATIVE_EXEC;
  process.env.ROBUSTOK_NATIVE_EXEC = 'eager';
  try {
    const eager = await runStage({ batchSize: 2 });
    assert.deepEqual(await fileBytes(graph.dir), await fileBytes(eager.dir));
  } finally {
    if (saved === undefined) delete process.env.ROBUSTOK_NATIVE_EXEC;
    else process.env.ROBUSTOK_NATIVE_EXEC = saved;
  }
});
