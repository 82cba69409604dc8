/**
 * generator.sample with tiny random-weight artifacts: the .npz equals sampleRar + EMA decode + the
 * +128 uint8 conversion, labels list(range(C)) * perClass, images independent of batch size and shard
 * count (generator.sample-merge of shards = one shard, byte for byte), PNGs, a resumed attempt equal
 * to an uninterrupted one, and the errors of mismatched inputs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { validateCommand } from '../../../cli/commands/validate';
import { isPipelineError } from '../../../core/errors';
import { decodeRgb } from '../../../data/images';
import { readNpz } from '../../../data/npz';
import { sampleRar } from '../../../models/rar-sampling';
import { saveTokenizerArtifact } from '../../../models/tokenizer-artifact';
import { parseTokenizerConfig } from '../../../models/tokenizer-config';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { Rng } from '../../../models/training/rng';
import { generatorSampleConfigSchema, generatorSampleDescriptor } from '../../../stages/generator-sample-config';
import { generatorSampleStage } from '../../../stages/generator-sample';
import { shardRange } from '../../../stages/sampling-support';
import { generatorSampleMergeStage } from '../../../stages/generator-sample-merge';
import { ROBUSTOK_RAR_B_SAMPLING } from '../../../stages/sampling-config';
import { expectedPixels, samplingArtifacts, TINY_RAR } from '../../helpers/sampling-artifacts';
import { testStageContext } from '../../helpers/stage-context';
import { expectNoTensorLeak } from '../../helpers/tensors';

const SEED = 7;

async function runStage(over: Record<string, unknown> = {}, ctxOver: Record<string, unknown> = {}, inputs: Record<string, string> = {}) {
  const a = await samplingArtifacts();
  const config = generatorSampleConfigSchema.parse({ numClasses: 3, perClass: 3, batchSize: 4, ...over });
  const ctx = await testStageContext({ config, inputs: { generator: a.generator, tokenizer: a.tokenizer, ...inputs }, seed: SEED, ...ctxOver });
  const result = await generatorSampleStage.run(ctx);
  const npz = await readNpz(result.outputs.samples as string);
  return { ctx, result, arr: npz.arr_0, labels: npz.labels };
}

test('defaults are the RobusTok RAR-B sampling values, not the rar.yaml ones', () => {
  const c = generatorSampleConfigSchema.parse({});
  assert.deepEqual([c.randomizeTemperature, c.guidanceScale, c.guidanceScalePow], [1.02, 6.0, 1.15]);
  assert.deepEqual(ROBUSTOK_RAR_B_SAMPLING, { guidanceScale: 6.0, guidanceScalePow: 1.15, randomizeTemperature: 1.02 });
  assert.deepEqual([c.perClass, c.batchSize, c.shard, c.tokenizerWeights, c.writePngs], [50, 50, { index: 0, count: 1 }, 'ema', false]);
  assert.deepEqual(generatorSampleDescriptor.outputs(c), ['samples']);
  assert.deepEqual(generatorSampleDescriptor.outputs({ ...c, writePngs: true }), ['samples', 'images']);
  assert.equal(generatorSampleConfigSchema.safeParse({ shard: { index: 2, count: 2 } }).success, false);
});

test('npz = sampleRar with per-sample streams → EMA decode → trunc(clamp(127.5·x + 128)); labels repeat 0..C−1', async () => {
  const a = await samplingArtifacts();
  const { arr, labels, result } = await runStage();
  assert.deepEqual(arr?.shape, [9, 16, 16, 3]);
  assert.ok(arr?.data instanceof Uint8Array);
  assert.deepEqual(Array.from(labels?.data ?? []), [0, 1, 2, 0, 1, 2, 0, 1, 2]);
  assert.equal(result.metrics?.images, 9);
  const want = await expectNoTensorLeak(async () => {
    const ids = await sampleRar(a.rar, [0, 1, 2, 0, 1, 2, 0, 1, 2], { ...ROBUSTOK_RAR_B_SAMPLING, seed: SEED, sampleIndices: [0, 1, 2, 3, 4, 5, 6, 7, 8] });
    const images = tf.tidy(() => a.ema.decodeCodes(tf.tensor2d(ids, [9, TINY_RAR.imageSeqLen], 'int32')) as tf.Tensor4D);
    const px = await expectedPixels(images);
    images.dispose();
    return px;
  });
  assert.deepEqual(arr?.data, want);
  const plane = 16 * 16 * 3;
  assert.notDeepEqual(want.subarray(0, plane), want.subarray(3 * plane, 4 * plane), 'samples of one class differ');
  const model = await runStage({ tokenizerWeights: 'model' });
  assert.notDeepEqual(model.arr?.data, arr?.data, 'tokenizerWeights: model decodes with the other weights');
});

test('images depend only on (seed, global index): 2 and 3 shards with other batch sizes concatenate to the 1-shard npz; merge = 1 shard byte for byte', async () => {
  const whole = await runStage();
  assert.deepEqual(
    [0, 1, 2].map((i) => shardRange(9, i, 3)),
    [
      [0, 3],
      [3, 6],
      [6, 9],
    ],
  );
  const halves = [await runStage({ batchSize: 3, shard: { index: 0, count: 2 } }), await runStage({ batchSize: 3, shard: { index: 1, count: 2 } })];
  assert.ok(Buffer.concat(halves.map((p) => Buffer.from(p.arr?.data as Uint8Array))).equals(Buffer.from(whole.arr?.data as Uint8Array)), '2 shards');
  assert.deepEqual(
    halves.flatMap((p) => Array.from(p.labels?.data ?? [])),
    Array.from(whole.labels?.data ?? []),
  );
  const parts = await Promise.all([0, 1, 2].map((index) => runStage({ batchSize: 2, shard: { index, count: 3 } })));
  const samples = parts.map((p) => p.result.outputs.samples as string);
  const merged = await generatorSampleMergeStage.run(
    await testStageContext({ config: {}, inputs: { c: samples[2] as string, a: samples[0] as string, b: samples[1] as string } }),
  );
  assert.ok(
    (await readFile(merged.outputs.samples as string)).equals(await readFile(whole.result.outputs.samples as string)),
    'merged shards = the 1-shard npz, byte for byte',
  );
  const gap = await testStageContext({ config: {}, inputs: { a: samples[0] as string, c: samples[2] as string } });
  await assert.rejects(generatorSampleMergeStage.run(gap), (e) => isPipelineError(e, 'INPUT_MISSING') && /starts at sample 6 .* end at 2/.test(e.message));
  const short = await testStageContext({ config: {}, inputs: { a: samples[0] as string, b: samples[1] as string } });
  await assert.rejects(generatorSampleMergeStage.run(short), (e) => isPipelineError(e, 'INPUT_MISSING') && /0\.\.5 of 9/.test(e.message));
  const other = await runStage({}, { seed: SEED + 1 });
  assert.notDeepEqual(other.arr?.data, whole.arr?.data, 'another seed, other images');
});

test('writePngs: {global index:06d}.png equal to the npz rows', async () => {
  const { result, arr } = await runStage({ writePngs: true, shard: { index: 1, count: 2 } });
  const dir = result.outputs.images as string;
  assert.deepEqual((await readdir(dir)).sort(), ['000004.png', '000005.png', '000006.png', '000007.png', '000008.png']);
  const img = await decodeRgb(path.join(dir, '000006.png'));
  const plane = 16 * 16 * 3;
  assert.deepEqual(img.data, (arr?.data as Uint8Array).subarray(2 * plane, 3 * plane));
});

test('a retried attempt decodes the checkpointed ids of finished batches, samples the rest, ends with the same bytes', async () => {
  const whole = await runStage({ batchSize: 2 });
  const root = await mkdtemp(path.join(os.tmpdir(), 'gsample-ck-'));
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
  assert.equal(again.result.metrics?.sampled, 5, 'only the 3 missing batches (5 samples) are sampled again');
  assert.deepEqual(
    again.ctx.progressLog.filter((p) => p.step !== undefined).map((p) => p.step),
    [2, 4, 6, 8, 9],
    'restored batches are decoded, not sampled',
  );
  assert.deepEqual(again.ctx.saved, [4], 'saves after new batches only, none after the last');
  assert.match(again.ctx.progressLog.at(-1)?.message ?? '', /images\/s/);
  assert.ok(Buffer.from(await readFile(again.result.outputs.samples as string)).equals(await readFile(whole.result.outputs.samples as string)));
});

test('mismatched inputs and configs are clear errors', async () => {
  const a = await samplingArtifacts();
  await assert.rejects(runStage({ numClasses: 5 }), (e) => isPipelineError(e, 'CONFIG_INVALID') && /5 exceeds the generator's 4 classes/.test(e.message));
  const other = await mkdtemp(path.join(os.tmpdir(), 'gsample-tok-'));
  const cfg = parseTokenizerConfig({
    image_size: 16,
    patch_size: 4,
    width: 16,
    depth: 1,
    num_heads: 2,
    codebook_size: 64,
    codebook_embed_dim: 8,
    num_latent_tokens: 16,
  });
  const tok = new RobustokTokenizer(cfg, Rng.fromSeed(3));
  await saveTokenizerArtifact(other, tok);
  tok.dispose();
  await assert.rejects(
    runStage({ tokenizerWeights: 'model' }, {}, { tokenizer: other }),
    (e) => isPipelineError(e, 'CHECKPOINT_MISMATCH') && /produces 4 ids .* decodes 16 ids/.test(e.message),
  );
  await assert.rejects(runStage({}, {}, { tokenizer: other }), (e) => isPipelineError(e, 'INPUT_MISSING') && /ema/.test(e.message));
  const ctx = await testStageContext({ config: generatorSampleConfigSchema.parse({}), inputs: { tokenizer: a.tokenizer } });
  await assert.rejects(generatorSampleStage.run(ctx), (e) => isPipelineError(e, 'INPUT_MISSING') && /generator/.test(e.message));
});

test('robustok validate accepts generator.sample shards → merge → eval.fid, and posttrain.pairs', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gsample-spec-'));
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: sampling-smoke
stages:
  data:
    kind: dataset.synthetic
    config: {imageSize: 16, numClasses: 3, trainPerClass: 4, valPerClass: 1}
  artifacts:
    kind: command
    config:
      argv: [mkdir, '\${outputs.gen}', '\${outputs.tok}']
      outputs: {gen: generator, tok: tokenizer}
  pairs:
    kind: posttrain.pairs
    inputs: {generator: artifacts.gen, tokenizer: artifacts.tok, dataset: data.dataset}
    config: {sigma: 0.7, numSamples: 6, batchSize: 4}
  sample0:
    kind: generator.sample
    inputs: {generator: artifacts.gen, tokenizer: artifacts.tok}
    config: {perClass: 4, shard: {index: 0, count: 2}, writePngs: true}
  sample1:
    kind: generator.sample
    inputs: {generator: artifacts.gen, tokenizer: artifacts.tok}
    config: {perClass: 4, shard: {index: 1, count: 2}}
  samples:
    kind: generator.sample-merge
    inputs: {a: sample0.samples, b: sample1.samples}
  fid:
    kind: eval.fid
    inputs: {samples: samples.samples, reference: data.dataset}
    config: {randomWeightsSeed: 1}
`,
  );
  const logged: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...x: unknown[]) => logged.push(x.join(' '));
  console.error = (...x: unknown[]) => logged.push(x.join(' '));
  try {
    assert.equal(await validateCommand(spec, { set: [], json: true }), 0, logged.join('\n'));
    logged.length = 0;
    assert.equal(await validateCommand(spec, { set: ['stages.sample1.config.shard.index=2'], json: false }), 2);
    assert.match(logged.join('\n'), /shard\.index must be < shard\.count/);
    logged.length = 0;
    assert.equal(await validateCommand(spec, { set: ['stages.pairs.config.sigma=1.5'], json: false }), 2);
    assert.match(logged.join('\n'), /sigma/);
  } finally {
    console.log = log;
    console.error = error;
  }
});
