/**
 * posttrain.pairs with tiny random-weight artifacts on a synthetic ImageFolder: the layout mirrors the
 * dataset, σ = 1 decodes exactly the clean ids of the ADM center crop, σ = 0 equals free sampling with
 * the same seed, a mixed σ equals teacher-forced sampling with each image's own mask and does not
 * depend on the batch size or the subset, and a retried attempt ends with the same files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { isPipelineError } from '../../../core/errors';
import { centerCropArr, writeChwSigned } from '../../../data/adm-crop';
import { openImageFolder } from '../../../data/image-folder';
import { decodeRgb } from '../../../data/images';
import { keepMask, sampleRar } from '../../../models/rar-sampling';
import { posttrainPairsConfigSchema, posttrainPairsMergeConfigSchema } from '../../../stages/posttrain-pairs-config';
import { posttrainPairsMergeStage } from '../../../stages/posttrain-pairs-merge';
import { PAIRS_MANIFEST, posttrainPairsStage, selectImages } from '../../../stages/posttrain-pairs';
import { ROBUSTOK_RAR_B_SAMPLING } from '../../../stages/sampling-config';
import { expectedPixels, samplingArtifacts, TINY_RAR } from '../../helpers/sampling-artifacts';
import { testStageContext } from '../../helpers/stage-context';
import { expectNoTensorLeak } from '../../helpers/tensors';

const SEED = 11;
const L = TINY_RAR.imageSeqLen;

async function runStage(over: Record<string, unknown> = {}, ctxOver: Record<string, unknown> = {}) {
  const a = await samplingArtifacts();
  const config = posttrainPairsConfigSchema.parse({ batchSize: 4, ...over });
  const ctx = await testStageContext({ config, inputs: { generator: a.generator, tokenizer: a.tokenizer, dataset: a.dataset }, seed: SEED, ...ctxOver });
  const result = await posttrainPairsStage.run(ctx);
  const dir = result.outputs.pairs as string;
  const manifest = JSON.parse(await readFile(path.join(dir, PAIRS_MANIFEST), 'utf8')) as Record<string, unknown>;
  return { ctx, result, dir, manifest };
}

/** Every file of the pairs folder (relative path → bytes). */
async function files(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out.set(path.relative(dir, path.join(e.parentPath, e.name)), await readFile(path.join(e.parentPath, e.name)));
  }
  return out;
}

/** Pixels of the PNGs in ImageFolder order, as one [N, H, W, 3] buffer. */
async function pngPixels(dir: string): Promise<Uint8Array> {
  const folder = await openImageFolder(dir);
  return Uint8Array.from(Buffer.concat(await Promise.all(folder.samples.map(async (s) => Buffer.from((await decodeRgb(s.path)).data)))));
}

/** The real images' ADM center crops as a [-1, 1] NCHW batch, their labels and folder indices. */
async function realBatch() {
  const a = await samplingArtifacts();
  const folder = await openImageFolder(path.join(a.dataset, 'train'));
  const plane = 3 * 16 * 16;
  const data = new Float32Array(folder.samples.length * plane);
  for (const [i, s] of folder.samples.entries()) writeChwSigned(await centerCropArr(await decodeRgb(s.path), 16), data, i * plane);
  return { data, n: folder.samples.length, labels: folder.samples.map((s) => s.label), indices: folder.samples.map((_, i) => i) };
}

/** The expected PNG pixels for teacher forcing with σ, computed from the models directly. */
async function expected(sigma: number | undefined): Promise<Uint8Array> {
  const a = await samplingArtifacts();
  const r = await realBatch();
  return expectNoTensorLeak(async () => {
    const codes = tf.tidy(() => a.ema.encodeCodes(tf.tensor4d(r.data, [r.n, 3, 16, 16])));
    const tokens = (await codes.data()) as Int32Array;
    codes.dispose();
    const keep = Uint8Array.from(r.indices.flatMap((i) => Array.from(keepMask(SEED, i, L, sigma ?? 0))));
    const ids = await sampleRar(a.rar, r.labels, {
      ...ROBUSTOK_RAR_B_SAMPLING,
      seed: SEED,
      sampleIndices: r.indices,
      ...(sigma === undefined ? {} : { teacherForcing: { tokens, keep } }),
    });
    if (sigma === 1) assert.deepEqual(ids, tokens, 'σ = 1 keeps every ground-truth id');
    const images = tf.tidy(() => a.ema.decodeCodes(tf.tensor2d(ids, [r.n, L], 'int32')) as tf.Tensor4D);
    const px = await expectedPixels(images);
    images.dispose();
    return px;
  });
}

test('layout mirrors the ImageFolder; σ = 1 decodes exactly the clean ids of the center crops', async () => {
  const a = await samplingArtifacts();
  const { dir, manifest, result } = await runStage({ sigma: 1 });
  const real = await openImageFolder(path.join(a.dataset, 'train'));
  const want = real.samples.map((s) => path.relative(real.root, s.path).replace(/\.[^.]+$/, '.png')).sort();
  assert.deepEqual([...(await files(dir)).keys()].filter((f) => f !== PAIRS_MANIFEST).sort(), want);
  assert.equal(want.length, 9);
  assert.deepEqual(await pngPixels(dir), await expected(1));
  assert.deepEqual(
    [manifest.count, manifest.sigma, manifest.kept_fraction, manifest.classes, manifest.split, manifest.seed],
    [9, 1, 1, real.classNames, 'train', SEED],
  );
  assert.match(String((manifest.generator as { weights_sha256: string }).weights_sha256), /^[0-9a-f]{64}$/);
  assert.equal((manifest.tokenizer as { weights: string }).weights, 'ema');
  assert.deepEqual([result.metrics?.pairs, result.metrics?.kept_fraction], [9, 1]);
});

test('σ = 0 equals free sampling with the same seed and per-image indices', async () => {
  const { dir, manifest } = await runStage({ sigma: 0 });
  assert.deepEqual(await pngPixels(dir), await expected(undefined));
  assert.equal(manifest.kept_fraction, 0);
});

test('mixed σ: each image its own mask; independent of batch size and of the subset chosen', async () => {
  const mixed = await runStage({ sigma: 0.5, batchSize: 4 });
  const px = await pngPixels(mixed.dir);
  assert.deepEqual(px, await expected(0.5));
  assert.notDeepEqual(px, await expected(1));
  assert.notDeepEqual(px, await expected(undefined));
  const kf = mixed.manifest.kept_fraction as number;
  assert.ok(kf > 0.2 && kf < 0.8, `kept fraction ${kf}`);
  const other = await runStage({ sigma: 0.5, batchSize: 3 });
  assert.deepEqual(await files(other.dir), await files(mixed.dir), 'batch size 3 gives the same bytes');
  const subset = await runStage({ sigma: 0.5, numSamples: 4, subsetSeed: 3 });
  const chosen = selectImages(9, 4, 3);
  assert.equal(chosen.length, 4);
  const all = await files(mixed.dir);
  const got = await files(subset.dir);
  assert.equal(got.size, 5); // 4 PNGs + pairs.json
  for (const [f, bytes] of got) if (f !== PAIRS_MANIFEST) assert.ok(bytes.equals(all.get(f) as Buffer), f);
  assert.deepEqual(selectImages(9, undefined, 3), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  assert.notDeepEqual(selectImages(9, 4, 4), chosen);
});

test("a retried attempt decodes the saved batches' ids, samples the rest, ends with the same files", async () => {
  const whole = await runStage({ batchSize: 2 });
  const root = await mkdtemp(path.join(os.tmpdir(), 'pairs-ck-'));
  await assert.rejects(
    runStage(
      { batchSize: 2 },
      {
        checkpointEvery: 2,
        checkpointRoot: root,
        beforeSave: (s: number) => {
          if (s === 4) throw new Error('worker killed');
        },
      },
    ),
    /worker killed/,
  );
  const again = await runStage({ batchSize: 2 }, { checkpointEvery: 2, checkpointRoot: root, attempt: 2 });
  assert.ok(
    again.ctx.lines.some((l) => /resuming after 2 finished batch/.test(l)),
    again.ctx.lines.join('\n'),
  );
  assert.deepEqual(
    again.ctx.progressLog.filter((p) => p.step !== undefined).map((p) => p.step),
    [1, 2, 3, 4, 5],
  );
  assert.equal(
    again.ctx.progressLog.filter((p) => p.message === 'decoding restored ids').length,
    2,
    'the 2 saved batches are decoded from their ids, not sampled',
  );
  assert.deepEqual(again.ctx.saved, [4]);
  assert.deepEqual(await files(again.dir), await files(whole.dir));
});

test('3 shards merged give the bytes of one unsharded stage; a missing or foreign shard is refused', async () => {
  const whole = await runStage({ sigma: 0.5, batchSize: 4 });
  const shards = [];
  for (const index of [0, 1, 2]) shards.push(await runStage({ sigma: 0.5, batchSize: 2, shard: { index, count: 3 } }));
  assert.deepEqual(
    shards.map((x) => x.manifest.count),
    [3, 3, 3],
  );
  const merge = async (inputs: Record<string, string>) => {
    const ctx = await testStageContext({ config: posttrainPairsMergeConfigSchema.parse({}), inputs, seed: 0 });
    return posttrainPairsMergeStage.run(ctx);
  };
  // input names do not matter: the shards' manifests say where they belong
  const merged = await merge({ c: shards[2]?.dir as string, a: shards[0]?.dir as string, b: shards[1]?.dir as string });
  assert.deepEqual(await files(merged.outputs.pairs as string), await files(whole.dir));
  await assert.rejects(
    merge({ a: shards[0]?.dir as string, c: shards[2]?.dir as string }),
    (e) => isPipelineError(e, 'INPUT_MISSING') && /shard 1\/3 was expected/.test(e.message),
  );
  const foreign = await runStage({ sigma: 0.6, batchSize: 2, shard: { index: 1, count: 3 } });
  await assert.rejects(
    merge({ a: shards[0]?.dir as string, b: foreign.dir, c: shards[2]?.dir as string }),
    (e) => isPipelineError(e, 'INPUT_MISSING') && /different pairings/.test(e.message),
  );
  assert.throws(() => posttrainPairsConfigSchema.parse({ shard: { index: 3, count: 3 } }), /shard.index must be < shard.count/);
});

test('the val split; a missing input; config defaults', async () => {
  const a = await samplingArtifacts();
  const val = await runStage({ split: 'val', sigma: 1 });
  assert.equal(val.manifest.count, 3);
  const ctx = await testStageContext({ config: posttrainPairsConfigSchema.parse({}), inputs: { generator: a.generator, tokenizer: a.tokenizer } });
  await assert.rejects(posttrainPairsStage.run(ctx), (e) => isPipelineError(e, 'INPUT_MISSING') && /dataset/.test(e.message));
  assert.equal(posttrainPairsConfigSchema.safeParse({ sigma: 1.2 }).success, false);
  assert.deepEqual(
    (({ sigma, subsetSeed, batchSize, guidanceScale, guidanceScalePow, randomizeTemperature }) => ({
      sigma,
      subsetSeed,
      batchSize,
      guidanceScale,
      guidanceScalePow,
      randomizeTemperature,
    }))(posttrainPairsConfigSchema.parse({})),
    { sigma: 0.7, subsetSeed: 42, batchSize: 50, guidanceScale: 6, guidanceScalePow: 1.15, randomizeTemperature: 1.02 },
  );
});

test('a corrupt real image is DATA_CORRUPT, or skipped (no pair) under skipCorrupt', async () => {
  const a = await samplingArtifacts();
  const data = await mkdtemp(path.join(os.tmpdir(), 'pairs-bad-'));
  await cp(path.join(a.dataset, 'val'), data, { recursive: true });
  const cls = (await readdir(data)).sort()[1] as string;
  await writeFile(path.join(data, cls, 'broken.png'), 'not a png');
  const run = async (skipCorrupt: boolean) => {
    const ctx = await testStageContext({
      config: posttrainPairsConfigSchema.parse({ sigma: 1, batchSize: 2, skipCorrupt }),
      inputs: { generator: a.generator, tokenizer: a.tokenizer, dataset: data },
      seed: SEED,
    });
    return posttrainPairsStage.run(ctx);
  };
  await assert.rejects(run(false), (e) => isPipelineError(e, 'DATA_CORRUPT') && /broken\.png/.test(e.message));
  const r = await run(true);
  assert.deepEqual([r.metrics?.pairs, r.metrics?.skipped], [3, 1]);
  const got = [...(await files(r.outputs.pairs as string)).keys()].sort();
  assert.equal(got.length, 4);
  assert.ok(!got.some((f) => f.includes('broken')));
});
