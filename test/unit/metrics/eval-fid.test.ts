import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LocalDirStore } from '../../../artifacts/local-store';
import { encodeNpz } from '../../../data/npz';
import { evalFid } from '../../../stages/eval-fid';
import { isPipelineError } from '../../../core/errors';

void test('evalFid: samples .npz against itself as reference → FID ~ 0, provenance, progress in batches, cached features reused', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'eval-fid-'));
  const n = 5;
  const pixels = Uint8Array.from({ length: n * 12 * 12 * 3 }, (_, i) => (i * 97 + (i >> 4)) % 256);
  const samples = path.join(dir, 'samples.npz');
  await writeFile(samples, encodeNpz({ arr_0: { data: pixels, shape: [n, 12, 12, 3] } }));
  const store = new LocalDirStore(path.join(dir, 'store'));
  const progress: [number, number][] = [];
  const logs: string[] = [];
  const m = await evalFid(
    { samplesPath: samples, referencePath: samples, randomWeightsSeed: 3, batchSize: 2, store },
    { progress: (d, t) => progress.push([d, t]), log: (l) => logs.push(l) },
  );
  assert.ok(Math.abs(m.fid) < 1e-3, String(m.fid));
  assert.ok(Math.abs(m.sfid!) < 1e-3);
  assert.equal(m.precision, 1);
  assert.equal(m.recall, 1);
  assert.equal(typeof m.is, 'number');
  assert.equal(m.n_a, n);
  assert.equal(m.n_b, n);
  assert.deepEqual(m.features, { network: 'inception-v3-fid-2015-12-05', weightsDigest: 'random-init:seed=3' });
  assert.deepEqual(m.stage, { kind: 'eval.fid', version: 1 });
  // Extraction ran once, in batches of 2 (2, 4, 5); the second side was a cache hit.
  assert.deepEqual(progress, [
    [2, 5],
    [4, 5],
    [5, 5],
  ]);
  assert.equal(logs.filter((l) => /cache hit/.test(l)).length, 1);
  assert.ok(logs.some((l) => /NOT comparable/.test(l)));
  const keys = await store.list('fid-features');
  assert.equal(keys.length, 1);
  assert.match(keys[0]!, /^fid-features\/v1\/npz-[0-9a-f]{64}\/random-init_seed=3\.npz$/);
});

void test('evalFid: bad config and cancellation', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'eval-fid-bad-'));
  const samples = path.join(dir, 's.npz');
  await writeFile(samples, encodeNpz({ arr_0: { data: new Uint8Array(2 * 8 * 8 * 3), shape: [2, 8, 8, 3] } }));
  await assert.rejects(
    evalFid({ samplesPath: samples, referencePath: samples, randomWeightsSeed: 1, batchSize: 0 }),
    (e) => isPipelineError(e, 'CONFIG_INVALID') && /batchSize/.test(e.message),
  );
  await assert.rejects(
    evalFid({ samplesPath: samples, referencePath: samples, batchSize: 2 }),
    (e) => isPipelineError(e, 'CONFIG_INVALID') && /weights are required/.test(e.message),
  );
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    evalFid({ samplesPath: samples, referencePath: samples, randomWeightsSeed: 1, batchSize: 1 }, { signal: ac.signal }),
    (e) => isPipelineError(e) && /cancelled/.test(e.message),
  );
});
