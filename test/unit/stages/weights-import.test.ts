/**
 * weights.import and files.import through their stage functions, on the small parity fixtures (upstream
 * modules' state dicts written by test/parity/{robustok-tokenizer,rar}/make_fixture.py): the artifact
 * they write loads in our stages with the file's tensors, whole training checkpoints (model./ema.) keep
 * both sets, upstream YAML configs are read, and a config whose sizes differ from the file fails with
 * CHECKPOINT_MISMATCH naming the key and both shapes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsReader, writeSafetensors, type SafetensorsEntry } from '../../../compute/safetensors';
import { isPipelineError } from '../../../core/errors';
import { readRarArtifactConfig } from '../../../models/rar-artifact';
import { EMA_WEIGHTS, isUpstreamOnlyKey, MODEL_WEIGHTS, readTokenizerArtifactConfig } from '../../../models/tokenizer-artifact';
import { tokenizerKeysFromUpstream } from '../../../models/tokenizer-upstream-config';
import { stageCatalog } from '../../../stages/catalog';
import { filesImportConfigSchema } from '../../../stages/files-import-config';
import { filesImportStage } from '../../../stages/files-import';
import { sha256File } from '../../../artifacts/hashing';
import { stageImpl } from '../../../stages/registry';
import { weightsImportConfigSchema } from '../../../stages/weights-import-config';
import { detectPrefixes, importedRarConfig, weightsImportStage } from '../../../stages/weights-import';
import { testStageContext } from '../../helpers/stage-context';
import { expectNoTensorLeak } from '../../helpers/tensors';

const PARITY = path.join(__dirname, '..', '..', 'fixtures', 'parity');
const TOK = path.join(PARITY, 'robustok-tokenizer', 'p4-16');
const RAR = path.join(PARITY, 'rar');

let dir = '';
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'weights-import-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function tensorsOf(file: string, prefix = ''): Promise<Map<string, number[]>> {
  const r = await SafetensorsReader.open(file);
  try {
    const out = new Map<string, number[]>();
    for (const n of r.names()) if (n.startsWith(prefix) && r.info(n).dtype === 'F32') out.set(n.slice(prefix.length), Array.from(await r.readArray(n)));
    return out;
  } finally {
    await r.close();
  }
}

const tokConfig = async () => (JSON.parse(await readFile(path.join(TOK, 'config.json'), 'utf8')) as { config: Record<string, unknown> }).config;

async function runImport(config: unknown) {
  const ctx = await testStageContext({ config: weightsImportConfigSchema.parse(config) });
  return { ctx, result: await expectNoTensorLeak(() => weightsImportStage.run(ctx)) };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

test("a tokenizer state dict becomes a tokenizer artifact with exactly the file's tensors (no EMA entries → model only)", async () => {
  const { result } = await runImport({ arch: 'robustok-tokenizer', weights: path.join(TOK, 'weights.safetensors'), model: await tokConfig() });
  const out = result.outputs.tokenizer ?? '';
  const cfg = await readTokenizerArtifactConfig(out);
  assert.equal(cfg.width, 32);
  assert.equal(cfg.patch_size, 4);
  // upstream's usage statistic and frozen teacher are not part of a tokenizer artifact
  const want = new Map([...(await tensorsOf(path.join(TOK, 'weights.safetensors')))].filter(([k]) => !isUpstreamOnlyKey(k)));
  assert.ok(want.size >= 40);
  const got = await tensorsOf(path.join(out, MODEL_WEIGHTS));
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
  await assert.rejects(readFile(path.join(out, EMA_WEIGHTS)));
  assert.deepEqual(result.metrics, { tensors: want.size, ema: 0 });
});

test('a whole converted checkpoint (model.* and ema.*, as main-train.pt holds) keeps both; a file:// URI works', async () => {
  const r = await SafetensorsReader.open(path.join(TOK, 'weights.safetensors'));
  const entries: SafetensorsEntry[] = [];
  for (const n of r.names()) {
    const info = r.info(n);
    if (info.dtype !== 'F32') continue; // the int64 lvl1LC buffers are upstream bookkeeping we never load
    const data = await r.readArray(n);
    entries.push({ name: `model.${n}`, shape: info.shape, dtype: 'F32', data: () => data });
    entries.push({ name: `ema.${n}`, shape: info.shape, dtype: 'F32', data: () => (data as Float32Array).map((x) => x * 0.5) });
  }
  await r.close();
  const file = path.join(dir, 'main-train.safetensors');
  await writeSafetensors(file, entries);
  assert.deepEqual(
    detectPrefixes(
      entries.map((e) => e.name),
      'robustok-tokenizer',
    ),
    { model: 'model.', ema: 'ema.' },
  );
  const { result } = await runImport({
    arch: 'robustok-tokenizer',
    weights: pathToFileURL(file).href,
    model: await tokConfig(),
    sha256: await sha256File(file),
  });
  const out = result.outputs.tokenizer ?? '';
  const model = await tensorsOf(path.join(out, MODEL_WEIGHTS));
  const ema = await tensorsOf(path.join(out, EMA_WEIGHTS));
  const k = 'decoder.mask_token';
  assert.deepEqual(
    ema.get(k),
    model.get(k)?.map((x) => Math.fround(x * 0.5)),
  );
  assert.deepEqual(result.metrics, { tensors: model.size, ema: 1 });
});

test('the upstream YAML names the sizes; a config that does not match the file is CHECKPOINT_MISMATCH with key and shapes', async () => {
  // The keys of upstream configs/main-train.yaml that describe the model (dossier §1.2).
  const paper = {
    image_size: 256,
    encoder_model: 'vit_base_patch14_dinov2.lvd142m',
    decoder_model: 'vit_base_patch14_dinov2.lvd142m',
    enc_type: 'dinov2',
    dec_type: 'dinov2',
    codebook_size: 4096,
    codebook_embed_dim: 64,
    num_latent_tokens: 256,
    v_patch_nums: [16],
    product_quant: 1,
    lr: 3e-5,
  };
  assert.deepEqual(tokenizerKeysFromUpstream(paper, 't'), {
    width: 768,
    depth: 12,
    num_heads: 12,
    patch_size: 16,
    image_size: 256,
    codebook_size: 4096,
    codebook_embed_dim: 64,
    num_latent_tokens: 256,
  });
  assert.throws(() => tokenizerKeysFromUpstream({ ...paper, product_quant: 2 }, 't'), /product_quant/);
  assert.throws(() => tokenizerKeysFromUpstream({ ...paper, decoder_model: 'vit_large_patch14_dinov2.lvd142m' }, 't'), /decoder_model/);
  const yamlFile = path.join(dir, 'main-train.yaml');
  await writeFile(
    yamlFile,
    Object.entries({ ...paper, image_size: 16, codebook_size: 32, codebook_embed_dim: 8, num_latent_tokens: 16 })
      .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
      .join('\n'),
  );
  // (the YAML's ViT-B would make this test build a 170M-parameter model: a width-48 ViT shows the same mismatch)
  const e = await rejection(
    runImport({
      arch: 'robustok-tokenizer',
      weights: path.join(TOK, 'weights.safetensors'),
      upstreamConfig: yamlFile,
      model: { patch_size: 4, width: 48, depth: 1, num_heads: 2 },
    }),
  );
  assert.ok(isPipelineError(e, 'CHECKPOINT_MISMATCH'), String(e));
  assert.match((e as Error).message, /encoder\.latent_tokens/);
  assert.match((e as Error).message, /48/);
  assert.match((e as Error).message, /width 48/);
  // The same YAML with the fixture's ViT sizes on top imports.
  const ok = await runImport({
    arch: 'robustok-tokenizer',
    weights: path.join(TOK, 'weights.safetensors'),
    upstreamConfig: yamlFile,
    model: { patch_size: 4, width: 32, depth: 1, num_heads: 2 },
  });
  assert.equal((await readTokenizerArtifactConfig(ok.result.outputs.tokenizer ?? '')).codebook_size, 32);
});

test('RAR weights + the upstream generator YAML become a generator artifact; a wrong size is CHECKPOINT_MISMATCH with the sizes', async () => {
  const fixture = JSON.parse(await readFile(path.join(RAR, 'config.json'), 'utf8')) as { upstream: unknown };
  const yamlFile = path.join(dir, 'rar.json');
  await writeFile(yamlFile, JSON.stringify(fixture.upstream));
  const { result } = await runImport({ arch: 'rar', weights: path.join(RAR, 'weights.safetensors'), upstreamConfig: yamlFile });
  const out = result.outputs.generator ?? '';
  const cfg = await readRarArtifactConfig(out);
  assert.deepEqual({ h: cfg.hiddenSize, l: cfg.numLayers, c: cfg.codebookSize, n: cfg.numClasses, s: cfg.imageSeqLen }, { h: 24, l: 2, c: 24, n: 5, s: 16 });
  const want = await tensorsOf(path.join(RAR, 'weights.safetensors'));
  const got = await tensorsOf(path.join(out, 'model.safetensors'));
  assert.equal(got.size, want.size);
  for (const [k, v] of want) assert.deepEqual(got.get(k), v, k);
  assert.equal(importedRarConfig(undefined, { preset: 'rar-l' }, 'x').hiddenSize, 1024);
  assert.equal(importedRarConfig(fixture.upstream, { preset: 'rar-b', numClasses: 10 }, 'x').numClasses, 10);
  const e = await rejection(runImport({ arch: 'rar', weights: path.join(RAR, 'weights.safetensors'), upstreamConfig: yamlFile, model: { hiddenSize: 32 } }));
  assert.ok(isPipelineError(e, 'CHECKPOINT_MISMATCH'), String(e));
  assert.match((e as Error).message, /hiddenSize 32/);
  const noConfig = await rejection(runImport({ arch: 'rar', weights: path.join(RAR, 'weights.safetensors') }));
  assert.ok(isPipelineError(noConfig, 'CONFIG_INVALID'), String(noConfig));
});

test('config: sources must be absolute paths, file:/// or s3:// URIs; outputs follow the arch; both kinds registered', async () => {
  const bad = weightsImportConfigSchema.safeParse({ arch: 'rar', weights: 'rar_b.safetensors' });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /relative/);
  assert.equal(filesImportConfigSchema.safeParse({ source: 's3://bucket/ref/VIRTUAL_imagenet256_labeled.npz' }).success, true);
  assert.equal(filesImportConfigSchema.safeParse({ source: 'http://example.com/x.npz' }).success, false);
  assert.equal(filesImportConfigSchema.safeParse({ source: 's3://bucket/a/../b' }).success, false);
  assert.deepEqual(stageCatalog.get('weights.import')?.outputs(weightsImportConfigSchema.parse({ arch: 'rar', weights: '/w' })), ['generator']);
  assert.deepEqual(stageCatalog.get('weights.import')?.outputs(weightsImportConfigSchema.parse({ arch: 'robustok-tokenizer', weights: '/w' })), ['tokenizer']);
  assert.equal((await stageImpl('weights.import'))?.descriptor.kind, 'weights.import');
  assert.equal((await stageImpl('files.import'))?.descriptor.kind, 'files.import');
});

test('files.import copies a file (keeping its name and extension) or a directory, and checks a pinned sha256', async () => {
  const src = path.join(dir, 'ref');
  await mkdir(path.join(src, 'train', 'a'), { recursive: true });
  await writeFile(path.join(src, 'train', 'a', '1.png'), 'png');
  const npz = path.join(dir, 'VIRTUAL_tiny.npz');
  await writeFile(npz, 'not really an npz');
  const file = await testStageContext({ config: filesImportConfigSchema.parse({ source: npz, sha256: await sha256File(npz) }) });
  const r1 = await filesImportStage.run(file);
  assert.equal(path.basename(r1.outputs.files ?? ''), 'VIRTUAL_tiny.npz');
  assert.equal(await readFile(r1.outputs.files ?? '', 'utf8'), 'not really an npz');
  const folder = await testStageContext({ config: filesImportConfigSchema.parse({ source: `${src}/` }) });
  const r2 = await filesImportStage.run(folder);
  assert.equal(await readFile(path.join(r2.outputs.files ?? '', 'train', 'a', '1.png'), 'utf8'), 'png');
  const wrong = await testStageContext({ config: filesImportConfigSchema.parse({ source: npz, sha256: '0'.repeat(64) }) });
  const e = await rejection(filesImportStage.run(wrong));
  assert.ok(isPipelineError(e, 'DATA_CORRUPT'), String(e));
  const missing = await testStageContext({ config: filesImportConfigSchema.parse({ source: path.join(dir, 'nope.npz') }) });
  const m = await rejection(filesImportStage.run(missing));
  assert.ok(isPipelineError(m, 'INPUT_MISSING'), String(m));
});
