import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { FidInception, inceptionConvSpecs, INPUT_SIZE, LOGIT_CLASSES, POOL_DIM, randomInceptionTensors, SPATIAL_DIM, BN_EPS } from '../../../models/inception';
import { loadInceptionWeights, weightEntries, type WeightTensor } from '../../../models/inception-weights';
import { writeSafetensors } from '../../../compute/safetensors';
import { isPipelineError } from '../../../core/errors';

const ready = initBackend({ log: null });

void test('the conv list matches the FID Inception-v3 layout (94 BN convs; channel counts chain)', () => {
  const specs = inceptionConvSpecs();
  assert.equal(specs.length, 94);
  const params = specs.reduce((a, c) => a + c.cin * c.cout * c.kh * c.kw, 0) + POOL_DIM * LOGIT_CLASSES;
  // torchvision's v3 without aux head has 21.8M conv/fc weights with 1000 classes; 1008 adds 8×2048.
  assert.ok(params > 23.5e6 && params < 24e6, String(params));
  assert.deepEqual(
    specs.find((s) => s.name === 'Mixed_6d.branch1x1'),
    { name: 'Mixed_6d.branch1x1', cin: 768, cout: 192, kh: 1, kw: 1 },
  );
});

void test('safetensors (via compute/safetensors.ts): round trip, F16/BF16 decoding, digest, truncation is reported', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'inception-weights-'));
  try {
    const t = new Map<string, WeightTensor>([['a.weight', { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-3, -7]) }]]);
    const file = path.join(dir, 'w.safetensors');
    await writeSafetensors(file, weightEntries(t));
    const w = await loadInceptionWeights(file);
    const back = w.tensors;
    assert.deepEqual(Array.from(back.get('a.weight')!.data), Array.from(t.get('a.weight')!.data));
    assert.deepEqual(back.get('a.weight')!.shape, [2, 3]);
    const buf = await readFile(file);
    assert.equal(w.digest, `sha256:${createHash('sha256').update(buf).digest('hex')}`);
    assert.equal(w.source, file);
    // Hand-made half-precision tensors: 1.0 = 0x3c00 (F16) = 0x3f80 (BF16), −2 = 0xc000 / 0xc000.
    const header = JSON.stringify({ h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] } });
    const raw = Buffer.alloc(8 + header.length + 8);
    raw.writeBigUInt64LE(BigInt(header.length));
    raw.write(header, 8);
    [0x3c00, 0xc000, 0x3f80, 0xc000].forEach((v, i) => raw.writeUInt16LE(v, 8 + header.length + 2 * i));
    await writeFile(path.join(dir, 'h.safetensors'), raw);
    const half = (await loadInceptionWeights(path.join(dir, 'h.safetensors'))).tensors;
    assert.deepEqual(Array.from(half.get('h')!.data), [1, -2]);
    assert.deepEqual(Array.from(half.get('b')!.data), [1, -2]);
    await writeFile(path.join(dir, 'cut.safetensors'), buf.subarray(0, buf.length - 4));
    await assert.rejects(
      loadInceptionWeights(path.join(dir, 'cut.safetensors')),
      (e) => isPipelineError(e, 'DATA_CORRUPT') && /cut\.safetensors: .*tensor a\.weight.*truncated.*bench\/fid_convert_inception\.py/.test(e.message),
    );
    const ints = JSON.stringify({ n: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } });
    const intFile = Buffer.alloc(8 + ints.length + 4);
    intFile.writeBigUInt64LE(BigInt(ints.length));
    intFile.write(ints, 8);
    await writeFile(path.join(dir, 'i.safetensors'), intFile);
    await assert.rejects(
      loadInceptionWeights(path.join(dir, 'i.safetensors')),
      (e) =>
        isPipelineError(e, 'DATA_CORRUPT') && /i\.safetensors: tensor 'n' has dtype I32, expected F32\/F16\/BF16\/F64.*fid_convert_inception/.test(e.message),
    );
    await assert.rejects(
      loadInceptionWeights(path.join(dir, 'absent.safetensors')),
      (e) => isPipelineError(e, 'INPUT_MISSING') && /absent\.safetensors: cannot read the Inception weights/.test(e.message),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

void test('missing or mis-shaped tensors are refused with the tensor name', () => {
  const t = randomInceptionTensors(3);
  t.delete('Mixed_7c.branch_pool.bn.running_var');
  assert.throws(
    () => FidInception.fromWeights({ tensors: t, digest: 'x', source: 'w.safetensors' }),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && /'Mixed_7c\.branch_pool\.bn\.running_var' is missing/.test(e.message),
  );
  const u = randomInceptionTensors(3);
  u.set('fc.weight', { shape: [1000, 2048], data: new Float32Array(1000 * 2048) });
  assert.throws(
    () => FidInception.fromWeights({ tensors: u, digest: 'x', source: 'w.safetensors' }),
    (e) => isPipelineError(e, 'TENSOR_SHAPE') && /fc\.weight.*\[1000, 2048\], expected \[1008, 2048\]/.test(e.message),
  );
});

void test('preprocessing: TF1 legacy bilinear resize to 299 and (x − 128)/128', async () => {
  await ready;
  const net = FidInception.fromWeights({ tensors: randomInceptionTensors(1), digest: 'x', source: 'x' });
  try {
    // 2×2 image (one channel replicated): legacy mapping samples source y = i · 2/299 (no half-pixel offset).
    const img = tf.tensor4d([0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255], [1, 2, 2, 3]);
    const out = net.preprocess(img);
    assert.deepEqual(out.shape, [1, INPUT_SIZE, INPUT_SIZE, 3]);
    const v = await out.data();
    const at = (y: number, x: number) => v[(y * INPUT_SIZE + x) * 3]!;
    const expect = (y: number, x: number) => {
      const sy = Math.min(y * (2 / 299), 1);
      const sx = Math.min(x * (2 / 299), 1);
      const y0 = Math.floor(sy);
      const x0 = Math.floor(sx);
      const y1 = Math.min(y0 + 1, 1);
      const x1 = Math.min(x0 + 1, 1);
      const p = [0, 100, 200, 255];
      const top = p[y0 * 2 + x0]! + (p[y0 * 2 + x1]! - p[y0 * 2 + x0]!) * (sx - x0);
      const bot = p[y1 * 2 + x0]! + (p[y1 * 2 + x1]! - p[y1 * 2 + x0]!) * (sx - x0);
      return (top + (bot - top) * (sy - y0) - 128) / 128;
    };
    for (const [y, x] of [
      [0, 0],
      [0, 1],
      [100, 37],
      [149, 149],
      [150, 298],
      [298, 298],
    ] as const) {
      assert.ok(Math.abs(at(y, x) - expect(y, x)) < 1e-5, `(${y},${x}): ${at(y, x)} vs ${expect(y, x)}`);
    }
    assert.equal(at(0, 0), -1);
    tf.dispose([img, out]);
  } finally {
    net.dispose();
  }
});

void test('forward: output shapes, finite values, unbiased logits = pool · Wᵀ, no leaked tensors, BN folding', async () => {
  await ready;
  const tensors = randomInceptionTensors(5);
  // Give every BN non-trivial statistics, and build the same network with the BN pre-folded by hand
  // (identity BN): both must agree, which checks the folding axis and formula.
  const folded = new Map(tensors);
  let k = 0;
  for (const c of inceptionConvSpecs()) {
    const gamma = Float32Array.from({ length: c.cout }, (_, i) => 0.5 + ((i * 7 + k) % 10) / 10);
    const mean = Float32Array.from({ length: c.cout }, (_, i) => ((i * 3 + k) % 5) / 50);
    const variance = Float32Array.from({ length: c.cout }, (_, i) => 0.5 + ((i + k) % 4) / 4);
    const beta = tensors.get(`${c.name}.bn.bias`)!.data;
    k++;
    tensors.set(`${c.name}.bn.weight`, { shape: [c.cout], data: gamma });
    tensors.set(`${c.name}.bn.running_mean`, { shape: [c.cout], data: mean });
    tensors.set(`${c.name}.bn.running_var`, { shape: [c.cout], data: variance });
    const w = tensors.get(`${c.name}.conv.weight`)!.data;
    const per = c.cin * c.kh * c.kw;
    const scale = Array.from(gamma, (g, o) => g / Math.sqrt(variance[o]! + BN_EPS));
    folded.set(`${c.name}.conv.weight`, { shape: [c.cout, c.cin, c.kh, c.kw], data: w.map((v, i) => v * scale[Math.floor(i / per)]!) });
    folded.set(`${c.name}.bn.weight`, { shape: [c.cout], data: new Float32Array(c.cout).fill(1) });
    folded.set(`${c.name}.bn.running_var`, { shape: [c.cout], data: new Float32Array(c.cout).fill(1 - BN_EPS) });
    folded.set(`${c.name}.bn.running_mean`, { shape: [c.cout], data: new Float32Array(c.cout) });
    folded.set(`${c.name}.bn.bias`, { shape: [c.cout], data: beta.map((b, o) => b - mean[o]! * scale[o]!) });
  }
  const before = tf.memory().numTensors;
  const a = FidInception.fromWeights({ tensors, digest: 'a', source: 'a' });
  const b = FidInception.fromWeights({ tensors: folded, digest: 'b', source: 'b' });
  const img = tf.tensor4d(
    Int32Array.from({ length: 2 * 40 * 56 * 3 }, (_, i) => (i * 131) % 256),
    [2, 40, 56, 3],
    'int32',
  );
  const ra = a.forward(img);
  const rb = b.forward(img);
  assert.deepEqual(ra.pool.shape, [2, POOL_DIM]);
  assert.deepEqual(ra.spatial.shape, [2, SPATIAL_DIM]);
  assert.deepEqual(ra.logits.shape, [2, LOGIT_CLASSES]);
  const [pa, pb, sa, la] = await Promise.all([ra.pool.data(), rb.pool.data(), ra.spatial.data(), ra.logits.data()]);
  let maxAbs = 0;
  let maxDiff = 0;
  for (let i = 0; i < pa.length; i++) {
    assert.ok(Number.isFinite(pa[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(pa[i]!));
    maxDiff = Math.max(maxDiff, Math.abs(pa[i]! - pb[i]!));
  }
  assert.ok(maxAbs > 0, 'pool features are all zero');
  assert.ok(maxDiff <= 1e-4 * maxAbs, `folded vs explicit BN: ${maxDiff} of ${maxAbs}`);
  assert.ok(sa.some((v) => v > 0) && sa.every((v) => v >= 0), 'sFID features are ReLU outputs');
  const fc = tensors.get('fc.weight')!.data;
  for (const [row, cls] of [
    [0, 0],
    [1, 1007],
    [1, 500],
  ] as const) {
    let s = 0;
    for (let j = 0; j < POOL_DIM; j++) s += pa[row * POOL_DIM + j]! * fc[cls * POOL_DIM + j]!;
    assert.ok(Math.abs(la[row * LOGIT_CLASSES + cls]! - s) < 1e-4 * (Math.abs(s) + 1e-3), `logit ${row},${cls}: ${la[row * LOGIT_CLASSES + cls]} vs ${s}`);
  }
  tf.dispose([img, ra.pool, ra.spatial, ra.logits, rb.pool, rb.spatial, rb.logits]);
  a.dispose();
  b.dispose();
  assert.equal(tf.memory().numTensors, before);
});
