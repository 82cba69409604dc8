/**
 * Weights of the FID Inception-v3: a minimal safetensors reader (F32/F16/BF16/F64 little-endian),
 * the weights' sha256 (recorded with every metric), and a seeded random initialisation for runs
 * that explicitly accept a network of no published provenance (smoke tests).
 *
 * Expected tensor names are those of pytorch-fid's FIDInceptionV3 state dict
 * (pt_inception-2015-12-05-6726825d.pth), e.g. `Mixed_6d.branch1x1.conv.weight` [out, in, kh, kw],
 * `Mixed_6d.branch1x1.bn.{weight,bias,running_mean,running_var}`, `fc.weight` [1008, 2048].
 * Conversion: bench/fid_convert_inception.py (see its header).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { PipelineError } from '../core/errors';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface InceptionWeights {
  readonly tensors: ReadonlyMap<string, WeightTensor>;
  /** 'sha256:<hex>' of the weights file, or 'random-init:seed=<n>' when none was used. */
  readonly digest: string;
  readonly source: string;
}

function bad(file: string, problem: string): PipelineError {
  return new PipelineError('DATA_CORRUPT', `${file}: ${problem}; convert the weights again with bench/fid_convert_inception.py`);
}

function toF32(dtype: string, bytes: Uint8Array, count: number, file: string, name: string): Float32Array {
  // A real copy (Buffer#slice would be a view), aligned for the typed-array views below.
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  switch (dtype) {
    case 'F32':
      return new Float32Array(copy.buffer, 0, count);
    case 'F64':
      return Float32Array.from(new Float64Array(copy.buffer, 0, count));
    case 'BF16': {
      const u16 = new Uint16Array(copy.buffer, 0, count);
      const u32 = new Uint32Array(count);
      for (let i = 0; i < count; i++) u32[i] = u16[i]! << 16;
      return new Float32Array(u32.buffer);
    }
    case 'F16': {
      const u16 = new Uint16Array(copy.buffer, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const h = u16[i]!;
        const e = (h >> 10) & 31;
        const f = h & 1023;
        const v = e === 0 ? f * 2 ** -24 : e === 31 ? (f ? NaN : Infinity) : (1 + f / 1024) * 2 ** (e - 15);
        out[i] = h & 0x8000 ? -v : v;
      }
      return out;
    }
    default:
      throw bad(file, `tensor '${name}' has dtype ${dtype}, expected F32/F16/BF16/F64`);
  }
}

const ITEM: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };

/** Parses a safetensors file held in memory. */
export function parseSafetensors(buf: Uint8Array, file: string): Map<string, WeightTensor> {
  if (buf.length < 8) throw bad(file, 'too short to be a safetensors file');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen <= 0 || 8 + headerLen > buf.length) throw bad(file, `header length ${headerLen} does not fit in ${buf.length} bytes (truncated or not safetensors)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, headerLen).toString('utf8')) as typeof header;
  } catch (e) {
    throw bad(file, `unreadable JSON header (${(e as Error).message})`);
  }
  const base = 8 + headerLen;
  const out = new Map<string, WeightTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const count = info.shape.reduce((a, b) => a * b, 1);
    const [start, end] = info.data_offsets;
    const item = ITEM[info.dtype];
    if (item === undefined) throw bad(file, `tensor '${name}' has unsupported dtype ${info.dtype}`);
    if (end - start !== count * item || base + end > buf.length) throw bad(file, `tensor '${name}' (shape ${info.shape.join('×')}) has inconsistent offsets or is truncated`);
    out.set(name, { shape: info.shape, data: toF32(info.dtype, buf.subarray(base + start, base + end), count, file, name) });
  }
  return out;
}

export async function loadInceptionWeights(file: string): Promise<InceptionWeights> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new PipelineError('INPUT_MISSING', `${file}: cannot read the Inception weights (${(e as Error).message}); pass the converted pt_inception-2015-12-05 safetensors file`, { cause: e });
  }
  const digest = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
  return { tensors: parseSafetensors(buf, file), digest, source: file };
}

/** Encodes float32 tensors as safetensors (used by tests and the random-weights fixture). */
export function encodeSafetensors(tensors: ReadonlyMap<string, WeightTensor>): Buffer {
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  out.write(json, 8, 'utf8');
  let p = 8 + json.length;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), p);
    p += t.data.byteLength;
  }
  return out;
}
