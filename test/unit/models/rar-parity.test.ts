/**
 * RAR against the upstream PyTorch module (RobusTok RAR/rar.py) with the same random weights: the
 * fixture is written by test/parity/rar/make_fixture.py (see test/parity/README.md); this test reads it
 * only. Logits must agree within float32 noise for raster and per-sample random orders, step-by-step
 * KV-cache decoding, the null class, and the guidance mix of one sampling step.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { stringify as toYaml } from 'yaml';
import { modelForwardCommand } from '../../../cli/commands/model-forward';
import { loadStateDictFile } from '../../../compute/checkpoint';
import { encodeNpy, readNpyFile } from '../../../data/npy';
import { permute, Rar } from '../../../models/rar';
import { RarConfigInput } from '../../../models/rar-config';
import { RarDecoder, RarDecoderWeights } from '../../../models/rar-decoder';
import { cfgMixRow, cfgScale } from '../../../models/rar-sampling';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'parity', 'rar');
const TOL = 1e-5; // max |Δ| / max |ref|; float32 round-off here is ~1e-7

interface FixtureConfig {
  upstream: unknown;
  cfg: { guidance_scale: number; guidance_scale_pow: number; step: number; cfg_scale: number };
}

let dir = '';
let fixture: FixtureConfig;
const npy = (name: string) => readNpyFile(path.join(FIXTURE, `${name}.npy`));

before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'rar-parity-'));
  fixture = JSON.parse(await readFile(path.join(FIXTURE, 'config.json'), 'utf8')) as FixtureConfig;
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

async function loadModel(): Promise<Rar> {
  const m = new Rar(RarConfigInput.parse(fixture.upstream), Rng.fromSeed(0));
  await loadStateDictFile(m.stateDict(), path.join(FIXTURE, 'weights.safetensors'));
  return m;
}

const ints = (a: { data: ArrayLike<number>; shape: readonly number[] }) => tf.tensor(Int32Array.from(a.data), [...a.shape], 'int32');

test('robustok model forward --arch rar with the upstream YAML reproduces forward_fn (raster and random orders)', async () => {
  const configFile = path.join(dir, 'rar.yaml');
  await writeFile(configFile, toYaml(fixture.upstream));
  const weights = path.join(FIXTURE, 'weights.safetensors');
  const input = [path.join(FIXTURE, 'class_ids.npy'), path.join(FIXTURE, 'input_ids.npy')];
  for (const [extra, ref] of [
    [[], 'logits_raster'],
    [[path.join(FIXTURE, 'orders.npy')], 'logits_orders'],
  ] as const) {
    const out = path.join(dir, ref);
    assert.equal(await quiet(() => modelForwardCommand({ arch: 'rar', config: configFile, weights, input: [...input, ...extra], out, backend: 'cpu' })), 0);
    const got = await readNpyFile(path.join(out, 'logits.npy'));
    const want = await npy(ref);
    assert.deepEqual(got.shape, want.shape);
    const err = relativeError(got.data, want.data);
    assert.ok(err < TOL, `${ref}: relative error ${err.toExponential(2)}`);
  }
});

test('the null class (raw id C) gives upstream unconditional logits', async () => {
  const m = await loadModel();
  const classes = await npy('class_ids');
  const C = m.config.numClasses;
  const nullFile = path.join(dir, 'null.npy');
  await writeFile(nullFile, encodeNpy(new Int32Array(classes.data.length).fill(C), [...classes.shape]));
  const out = path.join(dir, 'null');
  const configFile = path.join(dir, 'rar-null.json');
  await writeFile(configFile, JSON.stringify(fixture.upstream));
  await quiet(() =>
    modelForwardCommand({
      arch: 'rar',
      config: configFile,
      weights: path.join(FIXTURE, 'weights.safetensors'),
      input: [nullFile, path.join(FIXTURE, 'input_ids.npy')],
      out,
      backend: 'cpu',
    }),
  );
  const err = relativeError((await readNpyFile(path.join(out, 'logits.npy'))).data, (await npy('null_logits')).data);
  assert.ok(err < TOL, `null logits: ${err.toExponential(2)}`);
  m.dispose();
});

test('KV-cache decoding matches upstream kv_cache logits at every step, and the CFG step matches', async () => {
  const m = await loadModel();
  const ids = ints(await npy('input_ids'));
  const cond = tf.tensor1d(m.conditionIds((await npy('class_ids')).data), 'int32');
  const [B, L] = ids.shape as [number, number];
  const want = await npy('kv_logits'); // [B, L, K]
  const K = m.config.codebookSize;
  await expectNoTensorLeak(() => {
    const caches = m.newCaches();
    const got = new Float32Array(B * L * K);
    for (let s = 0; s < L; s++) {
      const row = tf.tidy(() => {
        const out = m.forwardCached(ids.slice([0, 0], [B, s]), cond, caches); // [B, t, K]
        return out.slice([0, out.shape[1]! - 1, 0], [B, 1, K]);
      });
      const last = row.dataSync();
      for (let b = 0; b < B; b++) got.set(last.subarray(b * K, (b + 1) * K), (b * L + s) * K);
      row.dispose();
    }
    caches.forEach((c) => c.dispose());
    const err = relativeError(got, want.data);
    assert.ok(err < TOL, `kv logits: ${err.toExponential(2)}`);
  });

  const { guidance_scale: g, guidance_scale_pow: p, step, cfg_scale } = fixture.cfg;
  assert.ok(Math.abs(cfgScale(step, L, g, p) - cfg_scale) < 1e-6, `cfg scale ${cfgScale(step, L, g, p)} vs upstream ${cfg_scale}`);
  const last = tf.tidy(() => {
    const prefix = ids.slice([0, 0], [B, step]);
    const both = m.forward(tf.concat([prefix, prefix]), tf.concat([cond, tf.fill([B], m.tokens.nullClassId, 'int32')])); // [2B, step + 1, K]
    return both.slice([0, step, 0], [2 * B, 1, K]).reshape([2 * B, K]); // [2B, 1, K] -> [2B, K]
  });
  const l = last.dataSync(); // the sampler mixes on the host, row by row
  const mixed = Array.from({ length: B }, (_, b) => [
    ...cfgMixRow(l.subarray(b * K, (b + 1) * K), l.subarray((B + b) * K, (B + b + 1) * K), cfgScale(step, L, g, p)),
  ]);
  const err = relativeError(mixed.flat(), (await npy('cfg_logits')).data);
  assert.ok(err < TOL, `cfg logits: ${err.toExponential(2)}`);
  tf.dispose([last, ids, cond]);
  m.dispose();
});

test('the sampling decoder (models/rar-decoder.ts) matches upstream kv_cache logits at every step', async () => {
  const m = await loadModel();
  const ids = (await npy('input_ids')).data;
  const cond = m.conditionIds((await npy('class_ids')).data);
  const want = await npy('kv_logits'); // [B, L, K]
  const [B, L, K] = want.shape as [number, number, number];
  await expectNoTensorLeak(() => {
    const weights = new RarDecoderWeights(m);
    const dec = new RarDecoder(weights, cond);
    const got = new Float32Array(B * L * K);
    for (let s = 0; s < L; s++) {
      const row = s === 0 ? dec.start() : dec.next(Int32Array.from({ length: B }, (_, b) => ids[b * L + s - 1] as number)); // [B, K]
      const last = row.dataSync();
      for (let b = 0; b < B; b++) got.set(last.subarray(b * K, (b + 1) * K), (b * L + s) * K);
      row.dispose();
    }
    dec.dispose();
    weights.dispose();
    const err = relativeError(got, want.data);
    assert.ok(err < TOL, `decoder logits: ${err.toExponential(2)}`);
  });
  m.dispose();
});

test('labels of a random order are the ids permuted the same way (upstream return_labels)', async () => {
  const ids = ints(await npy('input_ids'));
  const orders = ints(await npy('orders'));
  const labels = permute(ids, orders);
  assert.deepEqual(Array.from(labels.dataSync()), Array.from((await npy('labels_orders')).data));
  tf.dispose([ids, orders, labels]);
});
