import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SafetensorsReader, tensorEntries, writeSafetensors } from '../../../compute/safetensors';
import { bf16ToF32, decodeElements, f16ToF32, f32ToBf16, f32ToF16 } from '../../../compute/safetensors-dtypes';
import { expectClose, expectNoTensorLeak, randomValues } from '../../helpers/tensors';

let dir = '';
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'safetensors-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

/** Builds a file byte by byte from a header object and raw tensor bytes, as another writer would. */
function handBuilt(header: Record<string, unknown>, data: Uint8Array, pad = 0): Buffer {
  const json = Buffer.from(JSON.stringify(header) + ' '.repeat(pad), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

test('16-bit conversions are exact where representable and round to nearest even', () => {
  const x = Float32Array.from([1, -2, 0.5, 65504, 1e-8, 6.103515625e-5, 5.960464477539063e-8, Infinity, -0, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
  const h = f32ToF16(x);
  assert.deepEqual(Array.from(h.slice(0, 4)), [0x3c00, 0xc000, 0x3800, 0x7bff]);
  assert.equal(h[4], 0, '1e-8 underflows to +0');
  assert.equal(h[5], 0x0400, 'smallest normal');
  assert.equal(h[6], 0x0001, 'smallest subnormal');
  assert.equal(h[7], 0x7c00);
  assert.equal(h[8], 0x8000, '-0 keeps its sign');
  assert.equal(h[9], 0x3c00, 'tie 1 + 2^-11 rounds to even (1)');
  assert.equal(h[10], 0x3c02, 'tie 1 + 3·2^-11 rounds to even (1 + 2^-9)');
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(Float32Array.from([NaN])))[0]!));
  assert.deepEqual(Array.from(f16ToF32(h.slice(0, 4))), [1, -2, 0.5, 65504]);
  const b = f32ToBf16(Float32Array.from([1, -3, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 3e38]));
  assert.deepEqual(Array.from(b.slice(0, 4)), [0x3f80, 0xc040, 0x3f80, 0x3f82]);
  expectClose(bf16ToF32(b), [1, -3, 1, 1 + 2 ** -6, 3e38], 1e-2);
  assert.equal(bf16ToF32(f32ToBf16(Float32Array.from([3.4e38])))[0], Infinity, 'above bf16 max + half ulp rounds to Inf, as in PyTorch');
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(Float32Array.from([NaN])))[0]!));
});

test('round trip F32 (exact), F16 and BF16 (within their precision), int32, and metadata', async () => {
  const a = tf.tensor(randomValues(24, 1, 3), [2, 3, 4]);
  const b = tf.tensor(randomValues(5, 2), [5]);
  const ids = tf.tensor1d([1, -7, 4096], 'int32');
  for (const [dtype, tol] of [
    ['F32', 0],
    ['F16', 1e-3],
    ['BF16', 8e-3],
  ] as const) {
    const file = path.join(dir, `rt-${dtype}.safetensors`);
    await writeSafetensors(
      file,
      tensorEntries(
        new Map([
          ['blocks.0.attn.qkv.weight', a],
          ['norm.bias', b],
          ['ids', ids],
        ]),
        dtype,
      ),
      { metadata: { format: 'pt', note: 'x' } },
    );
    const r = await SafetensorsReader.open(file);
    assert.deepEqual(r.names(), ['blocks.0.attn.qkv.weight', 'norm.bias', 'ids']);
    assert.deepEqual(r.metadata, { format: 'pt', note: 'x' });
    assert.equal(r.info('norm.bias').dtype, dtype);
    assert.equal(r.info('ids').dtype, 'I32');
    await expectNoTensorLeak(async () => {
      const ra = await r.readTensor('blocks.0.attn.qkv.weight');
      assert.deepEqual(ra.shape, [2, 3, 4]);
      assert.equal(ra.dtype, 'float32');
      if (tol === 0) assert.deepEqual(ra.dataSync(), a.dataSync());
      else expectClose(ra.dataSync(), a.dataSync(), tol, dtype);
      const ri = await r.readTensor('ids');
      assert.equal(ri.dtype, 'int32');
      assert.deepEqual(Array.from(ri.dataSync()), [1, -7, 4096]);
      tf.dispose([ra, ri]);
    });
    await r.close();
  }
  tf.dispose([a, b, ids]);
});

test('the writer follows the spec: u64 LE length, JSON header, contiguous offsets, 8-byte aligned data', async () => {
  const file = path.join(dir, 'spec.safetensors');
  await writeSafetensors(
    file,
    [
      { name: 'w', shape: [2, 2], dtype: 'F32', data: () => Float32Array.from([1, 2, 3, 4]) },
      { name: 'h', shape: [3], dtype: 'F16', data: () => Float32Array.from([1, 2, 3]) },
    ],
    { metadata: { k: 'v' } },
  );
  const bytes = await readFile(file);
  const n = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  assert.deepEqual(header.__metadata__, { k: 'v' });
  assert.deepEqual(header.w, { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
  assert.deepEqual(header.h, { dtype: 'F16', shape: [3], data_offsets: [16, 22] });
  assert.equal(bytes.length, 8 + n + 22);
  assert.equal(bytes.readFloatLE(8 + n + 12), 4);
  assert.equal(bytes.readUInt16LE(8 + n + 16 + 4), 0x4200); // 3.0 in half
});

test('reads a hand-built file (as PyTorch safetensors writes it): F32, F16, BF16, F64, I64, padding, unordered keys', async () => {
  const f32 = Buffer.alloc(8);
  f32.writeFloatLE(1.5, 0);
  f32.writeFloatLE(-2, 4);
  const f16 = Buffer.from(new Uint8Array(Uint16Array.from([0x3c00, 0xbc00, 0x3555]).buffer));
  const bf16 = Buffer.from(new Uint8Array(Uint16Array.from([0x3f80, 0x4049]).buffer));
  const f64 = Buffer.alloc(8);
  f64.writeDoubleLE(0.1, 0);
  const i64 = Buffer.alloc(16);
  i64.writeBigInt64LE(5n, 0);
  i64.writeBigInt64LE(-3n, 8);
  const data = Buffer.concat([f32, f16, bf16, f64, i64]); // 8 + 6 + 4 + 8 + 16 = 42
  const header = {
    'blocks.0.mlp.fc1.bias': { dtype: 'F16', shape: [3], data_offsets: [8, 14] },
    __metadata__: { format: 'pt' },
    pos_embed: { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] },
    lvl: { dtype: 'BF16', shape: [2], data_offsets: [14, 18] },
    scale: { dtype: 'F64', shape: [], data_offsets: [18, 26] },
    idx: { dtype: 'I64', shape: [2], data_offsets: [26, 42] },
  };
  const file = path.join(dir, 'hand.safetensors');
  await writeFile(file, handBuilt(header, data, 5));
  const r = await SafetensorsReader.open(file);
  assert.deepEqual(r.names(), ['pos_embed', 'blocks.0.mlp.fc1.bias', 'lvl', 'scale', 'idx'], 'ordered by offset');
  assert.deepEqual(Array.from(await r.readArray('pos_embed')), [1.5, -2]);
  expectClose(await r.readArray('blocks.0.mlp.fc1.bias'), [1, -1, 0.333251953125], 1e-7);
  expectClose(await r.readArray('lvl'), [1, 3.140625], 1e-7);
  expectClose(await r.readArray('scale'), [0.1], 1e-7);
  assert.deepEqual(Array.from(await r.readArray('idx')), [5, -3]);
  const s = await r.readTensor('scale');
  assert.deepEqual(s.shape, []);
  s.dispose();
  await assert.rejects(r.readArray('nope'), { code: 'CHECKPOINT_MISMATCH' });
  await r.close();
});

test('corrupt files are DATA_CORRUPT with a message naming the problem', async () => {
  const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: [string, Buffer, RegExp][] = [
    ['short', Buffer.alloc(4), /too short/],
    [
      'huge header',
      (() => {
        const b = Buffer.alloc(16);
        b.writeBigUInt64LE(1n << 40n);
        return b;
      })(),
      /header length/,
    ],
    [
      'bad json',
      (() => {
        const j = Buffer.from('{nope');
        const l = Buffer.alloc(8);
        l.writeBigUInt64LE(BigInt(j.length));
        return Buffer.concat([l, j]);
      })(),
      /not valid UTF-8 JSON/,
    ],
    ['truncated data', handBuilt(ok, Buffer.alloc(4)), /cover 8 bytes but the byte buffer has 4/],
    ['truncated tensor named', handBuilt(ok, Buffer.alloc(4)), /tensor a \(F32 \[2\]\) is truncated/],
    ['trailing data', handBuilt(ok, Buffer.alloc(12)), /trailing/],
    ['wrong byte count', handBuilt({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /needs 12 bytes/],
    ['hole', handBuilt({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8)), /hole/],
    [
      'overlap',
      handBuilt({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, Buffer.alloc(8)),
      /overlap/,
    ],
    ['dtype', handBuilt({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, Buffer.alloc(8)), /unsupported dtype/],
    ['metadata', handBuilt({ __metadata__: { n: 1 } }, Buffer.alloc(0)), /must be a string/],
  ];
  for (const [name, bytes, msg] of cases) {
    const file = path.join(dir, `bad-${name.replace(/ /g, '-')}.safetensors`);
    await writeFile(file, bytes);
    await assert.rejects(SafetensorsReader.open(file), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, 'DATA_CORRUPT', name);
      assert.match(e.message ?? '', msg, name);
      return true;
    });
  }
});

test('writing checks sizes and leaves no partial file behind', async () => {
  const file = path.join(dir, 'partial.safetensors');
  await assert.rejects(
    writeSafetensors(file, [
      { name: 'a', shape: [2], dtype: 'F32', data: () => Float32Array.from([1, 2]) },
      { name: 'b', shape: [3], dtype: 'F32', data: () => Float32Array.from([1]) },
    ]),
    { code: 'TENSOR_SHAPE' },
  );
  await assert.rejects(readFile(file), { code: 'ENOENT' });
  await assert.rejects(writeSafetensors(file, [{ name: '__metadata__', shape: [], dtype: 'F32', data: () => new Float32Array(1) }]), /reserved/);
});

test('decoding copies unaligned views (e.g. a Buffer slice at an odd offset) instead of failing', () => {
  const buf = Buffer.alloc(9);
  buf.writeFloatLE(2.5, 1);
  buf.writeFloatLE(-1, 5);
  assert.deepEqual(Array.from(decodeElements('F32', buf.subarray(1), 'x')), [2.5, -1]);
});
