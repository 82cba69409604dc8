import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelForwardCommand } from '../../../cli/commands/model-forward';
import { saveStateDict } from '../../../compute/checkpoint';
import { encodeNpy, readNpyFile } from '../../../data/npy';
import { buildArch } from '../../../models/registry';
import { expectClose, randomValues } from '../../helpers/tensors';

let dir = '';
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'model-forward-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const quiet = async <T>(fn: () => Promise<T>): Promise<T> => {
  const [log, err] = [console.log, console.error];
  console.log = () => undefined;
  console.error = () => undefined;
  try {
    return await fn();
  } finally {
    console.log = log;
    console.error = err;
  }
};

test('runs a vit-encoder from safetensors weights on an .npy input and writes the output .npy', async () => {
  await tf.setBackend('cpu');
  const config = { imgSize: 8, patchSize: 4, embedDim: 8, depth: 2, numHeads: 2 };
  const ref = buildArch('vit-encoder', config, 7);
  const weights = path.join(dir, 'vit.safetensors');
  await saveStateDict(weights, ref.module.stateDict());
  const img = randomValues(2 * 3 * 8 * 8, 3);
  const input = path.join(dir, 'images.npy');
  await writeFile(input, encodeNpy(img, [2, 3, 8, 8]));
  const configFile = path.join(dir, 'vit.json');
  await writeFile(configFile, JSON.stringify(config));

  const code = await quiet(() =>
    modelForwardCommand({ arch: 'vit-encoder', config: configFile, weights, input: [input], out: path.join(dir, 'out'), backend: 'cpu', seed: 123 }),
  );
  assert.equal(code, 0);
  const got = await readNpyFile(path.join(dir, 'out', 'tokens.npy'));
  assert.deepEqual(got.shape, [2, 5, 8]);
  const x = tf.tensor(img, [2, 3, 8, 8]);
  const { tokens } = ref.forward([x]);
  expectClose(got.data, tokens!.dataSync(), 1e-6);
  tf.dispose([x, tokens!]);
  ref.module.dispose();
});

test('failures: mismatched weights, wrong input count or shape, bad config', async () => {
  const weights = path.join(dir, 'mlp.safetensors');
  const m = buildArch('mlp', { dim: 4, hidden: 8 });
  await saveStateDict(weights, m.module.stateDict());
  m.module.dispose();
  const input = path.join(dir, 'x.npy');
  await writeFile(input, encodeNpy(new Float32Array(6), [2, 3]));
  const base = { arch: 'mlp', input: [input], out: path.join(dir, 'out2'), backend: 'cpu' };
  await assert.rejects(
    quiet(() => modelForwardCommand({ ...base, config: '{"dim": 4, "hidden": 16}', weights })),
    { code: 'CHECKPOINT_MISMATCH' },
  );
  await assert.rejects(
    quiet(() => modelForwardCommand({ ...base, config: '{"dim": 4, "hidden": 8}' })),
    { code: 'TENSOR_SHAPE' },
  ); // last axis 3 ≠ 4
  await assert.rejects(
    quiet(() => modelForwardCommand({ ...base, input: [], config: '{"dim": 3, "hidden": 8}' })),
    { code: 'TENSOR_SHAPE' },
  );
  await assert.rejects(
    quiet(() => modelForwardCommand({ ...base, config: '{"dim": 3}' })),
    { code: 'CONFIG_INVALID' },
  );
  await assert.rejects(
    quiet(() => modelForwardCommand({ ...base, config: path.join(dir, 'missing.json') })),
    { code: 'INPUT_MISSING' },
  );
  assert.equal(await quiet(() => modelForwardCommand({ ...base, config: '{"dim": 3, "hidden": 8}', json: true })), 0);
});
