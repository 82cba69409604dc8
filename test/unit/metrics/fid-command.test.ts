import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { fidCommand } from '../../../cli/commands/fid';
import { encodeNpy } from '../../../data/npy';
import { encodeNpz } from '../../../data/npz';
import { activationStatistics } from '../../../metrics/activation-stats';
import { featureMatrix } from '../../../metrics/features';
import { frechetDistance } from '../../../metrics/frechet';
import { isPipelineError } from '../../../core/errors';
import { correlatedFeatures } from './reference-math';

async function run(a: string, b: string, extra: Parameters<typeof fidCommand>[2] = {}) {
  let out = '';
  const logs: string[] = [];
  const code = await fidCommand(a, b, { json: true, store: 'none', print: (t) => (out += t), log: (l) => logs.push(l), ...extra });
  return {
    code,
    out,
    json: (extra.json === false ? {} : JSON.parse(out)) as Record<string, unknown> & {
      fid: number;
      features: { network: string; weightsDigest: string | null };
    },
    logs,
  };
}

void test('fid on two .npy feature matrices: FID, precision/recall, counts and provenance', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fid-npy-'));
  const d = 24;
  const x = correlatedFeatures(80, d, 1);
  const y = correlatedFeatures(90, d, 2, 0.3);
  await writeFile(path.join(dir, 'a.npy'), encodeNpy(Float32Array.from(x), [80, d]));
  await writeFile(path.join(dir, 'b.npy'), encodeNpy(y, [90, d]));
  const r = await run(path.join(dir, 'a.npy'), path.join(dir, 'b.npy'));
  const expected = frechetDistance(
    activationStatistics(featureMatrix(Float32Array.from(x), 80, d, 'a'), 'a'),
    activationStatistics(featureMatrix(y, 90, d, 'b'), 'b'),
  ).value;
  assert.equal(r.code, 0);
  assert.ok(Math.abs(r.json.fid - expected) < 1e-9 * expected);
  assert.equal(r.json.n_a, 80);
  assert.equal(r.json.n_b, 90);
  assert.equal(typeof r.json.precision, 'number');
  assert.equal(typeof r.json.recall, 'number');
  assert.equal(r.json.sfid, undefined);
  assert.deepEqual(r.json.features, { network: 'precomputed', weightsDigest: null });
  // Same file on both sides: FID ~ 0, P = R = 1.
  const same = await run(path.join(dir, 'b.npy'), path.join(dir, 'b.npy'));
  assert.ok(Math.abs(same.json.fid) < 1e-6);
  assert.equal(same.json.precision, 1);
  assert.equal(same.json.recall, 1);
});

void test('fid on an .npz of statistics (mu, sigma) against an .npy: uses the stored statistics', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fid-stats-'));
  const d = 10;
  const x = correlatedFeatures(60, d, 3);
  const s = activationStatistics(featureMatrix(x, 60, d, 'x'), 'x');
  await writeFile(path.join(dir, 'ref.npz'), encodeNpz({ mu: { data: s.mu, shape: [d] }, sigma: { data: s.sigma, shape: [d, d] } }));
  await writeFile(path.join(dir, 'x.npy'), encodeNpy(x, [60, d]));
  const r = await run(path.join(dir, 'ref.npz'), path.join(dir, 'x.npy'));
  assert.ok(Math.abs(r.json.fid) < 1e-6, String(r.json.fid));
  assert.equal(r.json.n_a, null);
  assert.equal(r.json.precision, undefined);
});

void test('malformed inputs get errors that name the file and the problem', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fid-bad-'));
  const good = path.join(dir, 'good.npy');
  await writeFile(good, encodeNpy(correlatedFeatures(10, 4, 1), [10, 4]));
  const cases: [string, Uint8Array, RegExp, string][] = [
    ['three-d.npy', encodeNpy(new Float32Array(24), [2, 3, 4]), /must be 2-D/, 'TENSOR_SHAPE'],
    ['ints.npy', encodeNpy(new Int32Array(8), [2, 4]), /dtype i4; expected float32 or float64/, 'DATA_CORRUPT'],
    ['nan.npy', encodeNpy(Float64Array.from([1, 2, 3, 4, 5, NaN, 7, 8]), [2, 4]), /contains NaN at row 1, column 1/, 'DATA_CORRUPT'],
    [
      'float-images.npz',
      encodeNpz({ arr_0: { data: new Float32Array(2 * 4 * 4 * 3), shape: [2, 4, 4, 3] } }),
      /'arr_0' has dtype f4 .* must be uint8 N×H×W×3/,
      'DATA_CORRUPT',
    ],
    ['gray-images.npz', encodeNpz({ arr_0: { data: new Uint8Array(2 * 4 * 4), shape: [2, 4, 4] } }), /must be uint8 N×H×W×3/, 'DATA_CORRUPT'],
    ['empty.npz', encodeNpz({ other: { data: new Uint8Array(2), shape: [2] } }), /neither 'arr_0'/, 'DATA_CORRUPT'],
    [
      'bad-sigma.npz',
      encodeNpz({ mu: { data: new Float64Array(4), shape: [4] }, sigma: { data: new Float64Array(9), shape: [3, 3] } }),
      /expected \(D,\) and \(D, D\)/,
      'TENSOR_SHAPE',
    ],
    ['truncated.npz', encodeNpz({ arr_0: { data: new Uint8Array(3000), shape: [10, 10, 10, 3] } }).subarray(0, 1500), /truncated/, 'DATA_CORRUPT'],
  ];
  for (const [name, bytes, re, code] of cases) {
    const file = path.join(dir, name);
    await writeFile(file, bytes);
    await assert.rejects(run(file, good), (e) => isPipelineError(e, code as 'DATA_CORRUPT') && e.message.includes(file) && re.test(e.message), name);
  }
  await assert.rejects(run(path.join(dir, 'absent.npz'), good), (e) => isPipelineError(e, 'INPUT_MISSING'));
});

void test('image folder vs the same pixels as an .npz sample batch: identical features (FID ~ 0), sFID/IS reported, cache reused; weights are required', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fid-img-'));
  const folder = path.join(dir, 'imgs');
  await mkdir(folder);
  const n = 4;
  const h = 16;
  const w = 12;
  const pixels = Uint8Array.from({ length: n * h * w * 3 }, (_, i) => (i * 37 + (i >> 5) * 11) % 256);
  for (let i = 0; i < n; i++) {
    await sharp(Buffer.from(pixels.subarray(i * h * w * 3, (i + 1) * h * w * 3)), { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(path.join(folder, `${i}.png`));
  }
  const npz = path.join(dir, 'samples.npz');
  await writeFile(npz, encodeNpz({ arr_0: { data: pixels, shape: [n, h, w, 3] } }));
  await assert.rejects(run(folder, npz), (e) => isPipelineError(e, 'CONFIG_INVALID') && /weights are required/.test(e.message));
  const store = `file://${path.join(dir, 'store')}`;
  const r = await run(folder, npz, { randomWeights: 7, batchSize: 2, store });
  assert.ok(Math.abs(r.json.fid) < 1e-3, `fid ${r.json.fid}`);
  assert.equal(typeof r.json.sfid, 'number');
  assert.ok(Math.abs(r.json.sfid as number) < 1e-3);
  assert.equal(typeof r.json.is, 'number');
  assert.equal(r.json.precision, 1);
  assert.deepEqual(r.json.features, { network: 'inception-v3-fid-2015-12-05', weightsDigest: 'random-init:seed=7' });
  const again = await run(npz, folder, { randomWeights: 7, batchSize: 2, store, json: false });
  assert.match(again.out, /^FID: -?\d/m);
  assert.match(again.out, /features: inception-v3-fid-2015-12-05 \(random-init:seed=7\)/);
  assert.equal(again.logs.filter((l) => /cache hit/.test(l)).length, 2, again.logs.join('\n'));
});
