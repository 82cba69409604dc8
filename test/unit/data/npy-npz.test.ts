import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { decodeNpy, encodeNpy, readNpyFile } from '../../../data/npy';
import { encodeNpz, NpzReader, readNpz, writeNpz } from '../../../data/npz';
import { isPipelineError } from '../../../core/errors';

const FIX = path.join(__dirname, 'fixtures');
// What the fixtures hold (written once by NumPy 2.4: see the values below).
const imageValue = (i: number) => i % 251;

void test('npy round-trips float64, float32 and uint8 with their shapes', () => {
  const f8 = Float64Array.from({ length: 6 }, (_, i) => i / 3 - 1);
  const back = decodeNpy(encodeNpy(f8, [2, 3]), 'mem');
  assert.equal(back.dtype, 'f8');
  assert.deepEqual(back.shape, [2, 3]);
  assert.deepEqual(Array.from(back.data), Array.from(f8));
  const u1 = Uint8Array.from([0, 7, 255]);
  const b2 = decodeNpy(encodeNpy(u1, [3]), 'mem');
  assert.equal(b2.dtype, 'u1');
  assert.deepEqual(b2.shape, [3]);
  assert.deepEqual(Array.from(b2.data), [0, 7, 255]);
  // NumPy pads headers so the data starts on a 64-byte boundary; ours does the same.
  assert.equal((encodeNpy(u1, [3]).length - 3) % 64, 0);
});

void test('npy written by NumPy: float32 and Fortran order are decoded in C order', async () => {
  const f4 = await readNpyFile(path.join(FIX, 'f4.npy'));
  assert.equal(f4.dtype, 'f4');
  assert.deepEqual(f4.shape, [3, 4]);
  assert.ok(f4.data instanceof Float32Array);
  assert.deepEqual(
    Array.from(f4.data),
    Array.from({ length: 12 }, (_, i) => Math.fround(Math.fround(i) / 7)),
  );
  const fo = await readNpyFile(path.join(FIX, 'f64_fortran.npy'));
  assert.deepEqual(fo.shape, [2, 3]);
  assert.deepEqual(Array.from(fo.data), [0, 1, 2, 3, 4, 5]);
});

void test('npy errors name the file and the problem', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npy-'));
  const bad = path.join(dir, 'bad.npy');
  await writeFile(bad, 'hello world, not numpy');
  await assert.rejects(readNpyFile(bad), (e) => isPipelineError(e, 'DATA_CORRUPT') && e.message.includes(bad) && /magic/.test(e.message));
  const full = encodeNpy(new Float64Array(10), [2, 5]);
  const cut = path.join(dir, 'cut.npy');
  await writeFile(cut, full.subarray(0, full.length - 8));
  await assert.rejects(readNpyFile(cut), (e) => isPipelineError(e, 'DATA_CORRUPT') && e.message.includes(cut) && /truncated/.test(e.message));
  const big = Buffer.from(encodeNpy(new Float64Array(2), [2]));
  big.write("'>f8'", big.indexOf("'<f8'"), 'latin1');
  assert.throws(
    () => decodeNpy(big, 'be.npy'),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && /big-endian/.test(e.message),
  );
  await assert.rejects(readNpyFile(path.join(dir, 'absent.npy')), (e) => isPipelineError(e, 'INPUT_MISSING'));
});

void test('npz written by numpy.savez (stored) and savez_compressed (deflate) read identically', async () => {
  for (const name of ['savez.npz', 'savez_compressed.npz']) {
    const r = await NpzReader.open(path.join(FIX, name));
    try {
      assert.ok(r.has('arr_0') && r.has('feats'));
      const h = await r.header('arr_0');
      assert.deepEqual(h.shape, [2, 3, 4, 3]);
      assert.equal(h.dtype, 'u1');
      const img = await r.read('arr_0');
      assert.deepEqual(
        Array.from(img.data),
        Array.from({ length: 72 }, (_, i) => imageValue(i)),
      );
      // Row streaming yields the same bytes in batches along axis 0.
      const seen: number[] = [];
      for await (const b of r.rows('arr_0', 1)) {
        assert.equal(b.count, 1);
        assert.equal(b.start, seen.length / 36);
        seen.push(...b.data);
      }
      assert.deepEqual(seen, Array.from(img.data));
      const f = await r.read('feats');
      assert.deepEqual(f.shape, [3, 4]);
      assert.equal(f.data[5], Math.fround(Math.fround(5) / 7));
    } finally {
      await r.close();
    }
  }
  const all = await readNpz(path.join(FIX, 'savez.npz'));
  assert.deepEqual(Array.from(all.mu!.data), [1.5, -2.25]);
  assert.deepEqual(Array.from(all.sigma!.data), [2, 0.5, 0.5, 1]);
});

void test('npz writer output is readable back, including row batches that do not divide N', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npz-'));
  const file = path.join(dir, 'x.npz');
  const imgs = Uint8Array.from({ length: 5 * 2 * 2 * 3 }, (_, i) => (i * 7) % 256);
  await writeNpz(file, { arr_0: { data: imgs, shape: [5, 2, 2, 3] }, mu: { data: Float64Array.from([1, 2]), shape: [2] } });
  const r = await NpzReader.open(file);
  const counts: number[] = [];
  const got: number[] = [];
  for await (const b of r.rows('arr_0', 2)) {
    counts.push(b.count);
    got.push(...b.data);
  }
  await r.close();
  assert.deepEqual(counts, [2, 2, 1]);
  assert.deepEqual(got, Array.from(imgs));
});

void test('npz: truncated file, flipped byte (CRC), bad deflate and missing member are clear errors', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npz-bad-'));
  const good = encodeNpz({ arr_0: { data: new Uint8Array(4000).fill(9), shape: [10, 20, 20] } });
  const cut = path.join(dir, 'cut.npz');
  await writeFile(cut, good.subarray(0, 3000));
  await assert.rejects(NpzReader.open(cut), (e) => isPipelineError(e, 'DATA_CORRUPT') && e.message.includes(cut) && /truncated/.test(e.message));

  const flipped = Buffer.from(good);
  flipped[500] = 1;
  const fl = path.join(dir, 'flip.npz');
  await writeFile(fl, flipped);
  const r = await NpzReader.open(fl);
  await assert.rejects(r.read('arr_0'), (e) => isPipelineError(e, 'DATA_CORRUPT') && /CRC/.test(e.message) && e.message.includes(fl));
  await assert.rejects(r.read('nope'), (e) => isPipelineError(e, 'DATA_CORRUPT') && /no array 'nope'/.test(e.message));
  await r.close();

  // A deflated member whose compressed stream is garbage.
  const comp = await readFile(path.join(FIX, 'savez_compressed.npz'));
  const garbled = Buffer.from(comp);
  const at = garbled.indexOf(Buffer.from('arr_0.npy')) + 9 + 20;
  for (let i = at; i < at + 16; i++) garbled[i] = 0xff;
  const gz = path.join(dir, 'garbled.npz');
  await writeFile(gz, garbled);
  const r2 = await NpzReader.open(gz);
  await assert.rejects(r2.read('arr_0'), (e) => isPipelineError(e, 'DATA_CORRUPT') && e.message.includes(gz));
  await r2.close();
  assert.ok(zlib.crc32 !== undefined);
});
