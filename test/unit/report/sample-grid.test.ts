import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { encodeNpz } from '../../../data/npz';
import { composeGrid, gridColumns, npzFirstImages } from '../../../report/sample-grid';

/** N×H×W×3 uint8 whose pixel (n, y, x, c) = n·16 + y·4 + x + c (mod 256). */
function batch(n: number, h: number, w: number): Uint8Array {
  const a = new Uint8Array(n * h * w * 3);
  for (let i = 0; i < a.length; i++) {
    const c = i % 3;
    const x = Math.floor(i / 3) % w;
    const y = Math.floor(i / (3 * w)) % h;
    const k = Math.floor(i / (3 * w * h));
    a[i] = (k * 16 + y * 4 + x + c) % 256;
  }
  return a;
}

/** The same archive with arr_0 deflated (savez_compressed's layout; only the local header matters here). */
function deflateFirstMember(npz: Buffer): Buffer {
  const nameLen = npz.readUInt16LE(26);
  const size = npz.readUInt32LE(18);
  const body = npz.subarray(30 + nameLen, 30 + nameLen + size);
  const packed = zlib.deflateRawSync(body);
  const head = Buffer.from(npz.subarray(0, 30 + nameLen));
  head.writeUInt16LE(8, 8);
  head.writeUInt32LE(packed.length, 18);
  return Buffer.concat([head, packed, npz.subarray(30 + nameLen + size)]);
}

/** A stream that yields the buffer in small chunks, so headers straddle chunk borders. */
const chunked = (b: Buffer, size = 7) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
    })(),
  );

test('npzFirstImages reads the first images of a stored and of a deflated arr_0, and nothing past them', async () => {
  const data = batch(10, 4, 5);
  const npz = encodeNpz({ arr_0: { data, shape: [10, 4, 5, 3] }, labels: { data: new Int32Array(10), shape: [10] } });
  for (const archive of [npz, deflateFirstMember(npz)]) {
    const tiles = await npzFirstImages(chunked(archive), 3);
    assert.ok(tiles !== undefined);
    assert.equal(tiles.length, 3);
    for (const [k, t] of tiles.entries()) {
      assert.deepEqual([t.width, t.height], [5, 4]);
      assert.deepEqual([...t.data], [...data.subarray(k * 60, (k + 1) * 60)]);
    }
  }
  // Fewer images than asked for: all of them.
  assert.equal((await npzFirstImages(chunked(npz), 64))?.length, 10);
});

test('npzFirstImages declines archives it cannot preview', async () => {
  const labelsFirst = encodeNpz({ labels: { data: new Int32Array(2), shape: [2] }, arr_0: { data: new Uint8Array(2 * 12), shape: [2, 2, 2, 3] } });
  assert.equal(await npzFirstImages(chunked(labelsFirst), 4), undefined);
  const gray = encodeNpz({ arr_0: { data: new Uint8Array(8), shape: [2, 2, 2] } });
  assert.equal(await npzFirstImages(chunked(gray), 4), undefined);
  assert.equal(await npzFirstImages(chunked(Buffer.from('not a zip at all, just text')), 4), undefined);
});

test('composeGrid tiles images with gutters into a PNG', async () => {
  assert.deepEqual([1, 5, 8, 9, 16, 64].map(gridColumns), [1, 5, 8, 3, 4, 8]);
  const tiles = Array.from({ length: 5 }, (_, i) => ({ width: 3, height: 2, data: new Uint8Array(18).fill(i * 40) }));
  const grid = await composeGrid(tiles, 'x');
  assert.ok(grid !== undefined);
  // 5 columns of 3 px + 6 gutters of 2 px; one row of 2 px + 2 gutters.
  assert.deepEqual([grid.width, grid.height, grid.images], [5 * 3 + 6 * 2, 2 + 2 * 2, 5]);
  const { data, info } = await sharp(grid.png).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [27, 6, 3]);
  const px = (x: number, y: number) => data[(y * 27 + x) * 3];
  assert.equal(px(0, 0), 255, 'gutter');
  assert.equal(px(2, 2), 0, 'tile 0');
  assert.equal(px(2 + 4 * 5, 3), 160, 'tile 4');
  assert.equal(await composeGrid([], 'none'), undefined);
});
