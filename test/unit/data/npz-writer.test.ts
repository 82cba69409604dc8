/**
 * The streaming .npz writer: without zip64 it writes exactly encodeNpz's bytes (what numpy.savez
 * reads); with zip64 forced (the layout of archives past 4 GiB) our reader gets the same arrays back.
 * numpy.load was also checked by hand on both layouts (numpy 1.24, zipfile.testzip clean).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeNpz, readNpz } from '../../../data/npz';
import { NpzWriter, npyHeader } from '../../../data/npz-writer';
import { encodeNpy } from '../../../data/npy';

const pixels = Uint8Array.from({ length: 2 * 3 * 3 }, (_, i) => (i * 37) % 256);
const labels = Int32Array.from([7, -3]);

async function write(file: string, forceZip64: boolean): Promise<void> {
  const w = await NpzWriter.create(file, { forceZip64 });
  await w.begin('arr_0', 'u1', [2, 3, 3]);
  await w.write(pixels.subarray(0, 5));
  await w.write(pixels.subarray(5));
  await w.end();
  await w.add('labels', 'i4', labels, [2]);
  await w.close();
}

test('without zip64: the bytes of encodeNpz; with zip64 forced: the same arrays read back', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npzw-'));
  const plain = path.join(dir, 'plain.npz');
  await write(plain, false);
  const want = encodeNpz({ arr_0: { data: pixels, shape: [2, 3, 3] }, labels: { data: labels, shape: [2] } });
  assert.ok((await readFile(plain)).equals(want));
  const big = path.join(dir, 'zip64.npz');
  await write(big, true);
  const got = await readNpz(big);
  assert.deepEqual(got.arr_0?.shape, [2, 3, 3]);
  assert.deepEqual(got.arr_0?.data, pixels);
  assert.deepEqual(got.labels?.data, labels);
  assert.ok((await readFile(big)).length > want.length);
});

test("npy headers match encodeNpy; a member must receive exactly its shape's bytes", async () => {
  assert.ok(npyHeader('u1', [2, 3, 3]).equals(Buffer.from(encodeNpy(pixels, [2, 3, 3])).subarray(0, 128)));
  assert.equal(npyHeader('f4', [5]).length % 64, 0);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'npzw-'));
  const w = await NpzWriter.create(path.join(dir, 'bad.npz'));
  await w.begin('arr_0', 'u1', [4]);
  await assert.rejects(w.write(new Uint8Array(5)), { code: 'TENSOR_SHAPE' });
  await w.write(new Uint8Array(3));
  await assert.rejects(w.end(), { code: 'TENSOR_SHAPE' });
  await assert.rejects(w.close(), { code: 'INTERNAL' });
});
