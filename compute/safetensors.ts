/**
 * safetensors reading and writing, streamed through a file handle so multi-GB checkpoints are never held
 * twice in memory.
 *
 * Format (https://github.com/huggingface/safetensors):
 *   [8 bytes] N, unsigned little-endian u64: header length
 *   [N bytes] UTF-8 JSON: { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }, …,
 *             "__metadata__": { "<key>": "<string value>" } }   (may be padded with spaces)
 *   [rest]    the byte buffer; offsets are relative to its start, tensors are little-endian, row-major,
 *             and must cover it without holes or overlaps.
 *
 * Reading parses and validates the header once, then reads each tensor from its offset on demand.
 * Writing computes the header from shapes alone, writes it, then asks each entry for its data in turn
 * (e.g. `() => variable.data()`), so at most one tensor's bytes are in JS memory at a time. Files are
 * written to a temporary name and renamed, so a crash never leaves a truncated checkpoint behind.
 */
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { decodeElements, DTYPE_BYTES, encodeFloats, isDtype, type SafetensorsDtype } from './safetensors-dtypes';

export type { SafetensorsDtype } from './safetensors-dtypes';

export interface TensorInfo {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** [begin, end) in the byte buffer. */
  readonly dataOffsets: readonly [number, number];
}

/** The reference implementation refuses headers above 100 MB; so do we (a corrupt length must not allocate GBs). */
const MAX_HEADER_BYTES = 100_000_000;

if (os.endianness() !== 'LE') throw new PipelineError('BACKEND_UNAVAILABLE', 'safetensors IO assumes a little-endian host');

export class SafetensorsReader {
  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    /** Absolute file offset of the byte buffer (8 + N). */
    private readonly dataStart: number,
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Opens and validates `path`. Throws DATA_CORRUPT on any format violation. Call close() when done. */
  static async open(path: string): Promise<SafetensorsReader> {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const where = `safetensors file ${path}`;
      if (size < 8) throw corrupt(`${where} is ${size} bytes: too short for the 8-byte header length`);
      const lenBuf = await readExactly(fh, 0, 8, where);
      const n = new DataView(lenBuf.buffer, lenBuf.byteOffset, 8).getBigUint64(0, true);
      if (n > BigInt(MAX_HEADER_BYTES) || n + 8n > BigInt(size))
        throw corrupt(`${where}: header length ${n} exceeds the file (${size} bytes) or the 100 MB limit`);
      const headerBytes = await readExactly(fh, 8, Number(n), where);
      const { tensors, metadata } = parseHeader(headerBytes, size - 8 - Number(n), where);
      return new SafetensorsReader(fh, path, 8 + Number(n), tensors, metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Tensor names in file order (by offset). */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new PipelineError('CHECKPOINT_MISMATCH', `${this.path} has no tensor named "${name}"`);
    return t;
  }

  /** The tensor's raw bytes (a fresh buffer). */
  async readBytes(name: string): Promise<Uint8Array> {
    const {
      dataOffsets: [b, e],
    } = this.info(name);
    return readExactly(this.fh, this.dataStart + b, e - b, `${this.path}:${name}`);
  }

  /** Float tensors as float32 (F16/BF16/F64 converted), integer tensors as int32. */
  async readArray(name: string): Promise<Float32Array | Int32Array> {
    return decodeElements(this.info(name).dtype, await this.readBytes(name), name);
  }

  /** A new tf.Tensor (float32 or int32) holding the named tensor. */
  async readTensor(name: string): Promise<tf.Tensor> {
    const info = this.info(name);
    const data = await this.readArray(name);
    return tf.tensor(data, [...info.shape], data instanceof Int32Array ? 'int32' : 'float32');
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function corrupt(msg: string): PipelineError {
  return new PipelineError('DATA_CORRUPT', msg);
}

async function readExactly(fh: FileHandle, position: number, length: number, where: string): Promise<Uint8Array> {
  // allocUnsafeSlow: never a slice of Node's shared 8 KiB pool, so the typed arrays we hand to tfjs
  // own their memory and start aligned.
  const buf = Buffer.allocUnsafeSlow(length);
  let done = 0;
  while (done < length) {
    // one read is capped at 2 GiB by the OS; loop until the tensor is complete
    const { bytesRead } = await fh.read(buf, done, Math.min(length - done, 1 << 30), position + done);
    if (bytesRead === 0) throw corrupt(`${where}: unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, length);
}

function parseHeader(bytes: Uint8Array, bufferBytes: number, where: string): { tensors: Map<string, TensorInfo>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new PipelineError('DATA_CORRUPT', `${where}: header is not valid UTF-8 JSON`, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw corrupt(`${where}: header must be a JSON object`);
  const metadata: Record<string, string> = {};
  const entries: [string, TensorInfo][] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null) throw corrupt(`${where}: __metadata__ must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(`${where}: __metadata__.${k} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const r = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const off = r.data_offsets;
    const okInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (!isDtype(r.dtype)) throw corrupt(`${where}: tensor ${name} has unsupported dtype ${JSON.stringify(r.dtype)}`);
    if (!Array.isArray(r.shape) || !r.shape.every(okInt)) throw corrupt(`${where}: tensor ${name} has an invalid shape ${JSON.stringify(r.shape)}`);
    if (!Array.isArray(off) || off.length !== 2 || !okInt(off[0]) || !okInt(off[1]) || off[1] < off[0])
      throw corrupt(`${where}: tensor ${name} has invalid data_offsets ${JSON.stringify(off)}`);
    const shape = r.shape;
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[r.dtype];
    if (off[1] - off[0] !== expected)
      throw corrupt(`${where}: tensor ${name} (${r.dtype} [${shape.join(', ')}]) needs ${expected} bytes but data_offsets span ${off[1] - off[0]}`);
    entries.push([name, { dtype: r.dtype, shape, dataOffsets: [off[0], off[1]] }]);
  }
  // The buffer must be covered exactly: sorted by offset, each tensor starts where the previous ended.
  entries.sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  for (const [name, t] of entries) {
    if (t.dataOffsets[0] !== cursor)
      throw corrupt(`${where}: tensor ${name} starts at ${t.dataOffsets[0]}, expected ${cursor} (overlap or hole in the byte buffer)`);
    cursor = t.dataOffsets[1];
  }
  if (cursor > bufferBytes) {
    // name the first tensor that does not fit: the one a truncated download or copy lost
    const lost = entries.find(([, e]) => e.dataOffsets[1] > bufferBytes);
    const which = lost ? `: tensor ${lost[0]} (${lost[1].dtype} [${lost[1].shape.join(', ')}]) is truncated` : ' (truncated)';
    throw corrupt(`${where}: tensors cover ${cursor} bytes but the byte buffer has ${bufferBytes}${which}`);
  }
  if (cursor < bufferBytes) throw corrupt(`${where}: tensors cover ${cursor} bytes but the byte buffer has ${bufferBytes} (trailing data)`);
  return { tensors: new Map(entries), metadata };
}

/** One tensor to write. `data` is called once, when its turn comes. */
export interface SafetensorsEntry {
  name: string;
  shape: readonly number[];
  /** Stored type. Float data is converted to F16/BF16 on the way out; integer data is written as is. */
  dtype: 'F32' | 'F16' | 'BF16' | 'I32';
  data: () => Promise<Float32Array | Int32Array> | Float32Array | Int32Array;
}

export interface WriteOptions {
  /** String key/values stored as __metadata__. */
  metadata?: Record<string, string>;
}

/** Writes `entries` in order to `path` (atomically: temp file + rename). */
export async function writeSafetensors(path: string, entries: readonly SafetensorsEntry[], o: WriteOptions = {}): Promise<void> {
  const header: Record<string, unknown> = {};
  if (o.metadata && Object.keys(o.metadata).length > 0) header.__metadata__ = o.metadata;
  let offset = 0;
  for (const e of entries) {
    if (e.name === '__metadata__' || Object.prototype.hasOwnProperty.call(header, e.name))
      throw new PipelineError('INTERNAL', `safetensors: duplicate or reserved tensor name "${e.name}"`);
    const bytes = e.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype];
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the byte buffer starts 8-byte aligned (as the reference writer does).
  const raw = Buffer.byteLength(json, 'utf8');
  json += ' '.repeat((8 - ((8 + raw) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));

  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.write(len);
    await fh.write(headerBytes);
    for (const e of entries) {
      const data = await e.data();
      const n = e.shape.reduce((a, b) => a * b, 1);
      if (data.length !== n)
        throw new PipelineError('TENSOR_SHAPE', `safetensors: ${e.name} has ${data.length} values, shape [${e.shape.join(', ')}] needs ${n}`);
      let bytes: Uint8Array;
      if (e.dtype === 'I32') {
        if (!(data instanceof Int32Array)) throw new PipelineError('TENSOR_SHAPE', `safetensors: ${e.name} is stored as I32 but its data is not int32`);
        bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      } else {
        bytes = encodeFloats(e.dtype, data instanceof Float32Array ? data : Float32Array.from(data));
      }
      await writeAll(fh, bytes);
    }
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, path);
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.length - done, 1 << 30));
    done += bytesWritten;
  }
}

/** Entries for named tfjs tensors (variables included), read from the device one at a time. */
export function tensorEntries(named: ReadonlyMap<string, tf.Tensor>, dtype: 'F32' | 'F16' | 'BF16' = 'F32'): SafetensorsEntry[] {
  return [...named].map(([name, t]) => ({
    name,
    shape: t.shape,
    dtype: t.dtype === 'int32' ? 'I32' : dtype,
    data: async () => (await t.data()) as Float32Array | Int32Array,
  }));
}
