/**
 * files.import and weights.import read s3:// sources through the store layer, against the real MinIO
 * test server: a released-weights file plus its upstream YAML, a reference .npz, and a "directory"
 * (every object under a prefix). Credentials come from the worker's environment (ROBUSTOK_S3_*).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { openStore } from '../../artifacts/open-store';
import { isPipelineError } from '../../core/errors';
import { readRarArtifactConfig } from '../../models/rar-artifact';
import { filesImportConfigSchema } from '../../stages/files-import-config';
import { filesImportStage } from '../../stages/files-import';
import { weightsImportConfigSchema } from '../../stages/weights-import-config';
import { weightsImportStage } from '../../stages/weights-import';
import { testMinio, uniqueBucket } from '../helpers/servers';
import { testStageContext } from '../helpers/stage-context';

const RAR = path.join(__dirname, '..', 'fixtures', 'parity', 'rar');
const bucket = uniqueBucket('imports');

before(async () => {
  await tf.setBackend('cpu');
  const m = await testMinio();
  // openStore reads the worker's environment, as a worker running these stages would
  Object.assign(process.env, { ROBUSTOK_S3_ENDPOINT: m.endpoint, ROBUSTOK_S3_ACCESS_KEY: m.accessKey, ROBUSTOK_S3_SECRET_KEY: m.secretKey });
  const store = openStore(`s3://${bucket}`);
  await store.put('released/rar.safetensors', await readFile(path.join(RAR, 'weights.safetensors')));
  const upstream = (JSON.parse(await readFile(path.join(RAR, 'config.json'), 'utf8')) as { upstream: unknown }).upstream;
  await store.put('released/rar.yaml', JSON.stringify(upstream));
  await store.put('adm/VIRTUAL_tiny.npz', 'npz bytes');
  await store.put('data/train/a/1.png', 'one');
  await store.put('data/val/a/2.png', 'two');
});

test('weights.import: safetensors + upstream YAML from s3:// become a generator artifact', async () => {
  const ctx = await testStageContext({
    config: weightsImportConfigSchema.parse({
      arch: 'rar',
      weights: `s3://${bucket}/released/rar.safetensors`,
      upstreamConfig: `s3://${bucket}/released/rar.yaml`,
    }),
  });
  const r = await weightsImportStage.run(ctx);
  assert.equal((await readRarArtifactConfig(r.outputs.generator ?? '')).hiddenSize, 24);
});

test('files.import: one s3:// object keeps its name; a prefix is a directory; a missing key is INPUT_MISSING', async () => {
  const one = await testStageContext({ config: filesImportConfigSchema.parse({ source: `s3://${bucket}/adm/VIRTUAL_tiny.npz` }) });
  const r1 = await filesImportStage.run(one);
  assert.equal(path.basename(r1.outputs.files ?? ''), 'VIRTUAL_tiny.npz');
  assert.equal(await readFile(r1.outputs.files ?? '', 'utf8'), 'npz bytes');
  const dir = await testStageContext({ config: filesImportConfigSchema.parse({ source: `s3://${bucket}/data` }) });
  const r2 = await filesImportStage.run(dir);
  assert.equal(await readFile(path.join(r2.outputs.files ?? '', 'train', 'a', '1.png'), 'utf8'), 'one');
  assert.equal(await readFile(path.join(r2.outputs.files ?? '', 'val', 'a', '2.png'), 'utf8'), 'two');
  const missing = await testStageContext({ config: filesImportConfigSchema.parse({ source: `s3://${bucket}/nothing/here.npz` }) });
  await assert.rejects(filesImportStage.run(missing), (e) => isPipelineError(e, 'INPUT_MISSING'));
});
