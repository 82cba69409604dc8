/**
 * NumPy .npy format (versions 1.0, 2.0, 3.0): header parsing, decoding into typed arrays and
 * encoding. Used for feature matrices (`robustok fid x.npy`) and inside .npz files.
 * Only little-endian (or byte-sized) dtypes are supported: that is what NumPy writes on every
 * machine we run on; a big-endian file gets an error that says how to convert it.
 */
import { readFile } from 'node:fs/promises';
import { PipelineError } from '../core/errors';

export type NpyDtype = 'u1' | 'i1' | 'b1' | 'u2' | 'i2' | 'u4' | 'i4' | 'i8' | 'u8' | 'f2' | 'f4' | 'f8';

export type NpyData = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

const ITEM_SIZE: Record<NpyDtype, number> = { u1: 1, i1: 1, b1: 1, u2: 2, i2: 2, u4: 4, i4: 4, i8: 8, u8: 8, f2: 2, f4: 4, f8: 8 };

export interface NpyHeader {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  readonly fortranOrder: boolean;
  /** Bytes before the data: magic + version + header length + header text. */
  readonly dataOffset: number;
  readonly itemSize: number;
  /** Number of elements (product of the shape). */
  readonly size: number;
}

export interface NpyArray {
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /**
   * Row-major (C order) data. 'f2' is widened to Float32Array; 'i8'/'u8' are converted to
   * Float64Array (exact below 2^53), since every consumer here wants numbers, not bigints.
   */
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

function corrupt(source: string, problem: string, fix = 'rewrite it with numpy.save / numpy.savez'): PipelineError {
  return new PipelineError('DATA_CORRUPT', `${source}: ${problem}; ${fix}`);
}

/** Bytes needed to know the full header length: magic(6) + version(2) + length(2 or 4). */
export const NPY_PREAMBLE_BYTES = 12;

/** Parses the header at the start of `buf` (which must hold at least the whole header). */
export function parseNpyHeader(buf: Uint8Array, source: string): NpyHeader {
  if (buf.length < 10 || MAGIC.some((b, i) => buf[i] !== b)) throw corrupt(source, 'not a .npy array (missing the \\x93NUMPY magic bytes)');
  const major = buf[6] ?? 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw corrupt(source, 'truncated .npy header');
    headerLen = view.getUint32(8, true);
    start = 12;
  } else {
    throw corrupt(source, `unsupported .npy format version ${major}.${buf[7] ?? 0}`);
  }
  if (buf.length < start + headerLen) throw corrupt(source, `truncated .npy header (needs ${start + headerLen} bytes, file has ${buf.length})`);
  const text = Buffer.from(buf.buffer, buf.byteOffset + start, headerLen).toString(major === 3 ? 'utf8' : 'latin1');
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw corrupt(source, `unreadable .npy header '${text.trim()}' (structured dtypes are not supported)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(n) || n < 0) throw corrupt(source, `bad dimension '${s}' in .npy shape (${shapeText})`);
      return n;
    });
  const dtype = parseDescr(descr, source);
  const size = shape.reduce((a, b) => a * b, 1);
  return { dtype, shape, fortranOrder: fortran === 'True', dataOffset: start + headerLen, itemSize: ITEM_SIZE[dtype], size };
}

function parseDescr(descr: string, source: string): NpyDtype {
  const m = /^([<>|=])([a-z])(\d+)$/.exec(descr);
  const kind = m ? `${m[2]}${m[3]}` : '';
  if (!m || !(kind in ITEM_SIZE)) throw corrupt(source, `unsupported dtype '${descr}'`, 'store float32/float64 features or uint8 images');
  const order = m[1];
  if (order === '>' && ITEM_SIZE[kind as NpyDtype] > 1) {
    throw corrupt(source, `big-endian dtype '${descr}'`, "convert it with arr.astype(arr.dtype.newbyteorder('<')) before saving");
  }
  return kind as NpyDtype;
}

/** Decodes `count` elements of `dtype` from little-endian bytes (copied, so any alignment works). */
export function decodeElements(dtype: NpyDtype, bytes: Uint8Array, count: number): NpyData {
  const n = count * ITEM_SIZE[dtype];
  const copy = new Uint8Array(n);
  copy.set(bytes.subarray(0, n));
  const b = copy.buffer;
  switch (dtype) {
    case 'u1':
    case 'b1':
      return copy;
    case 'i1':
      return new Int8Array(b);
    case 'u2':
      return new Uint16Array(b);
    case 'i2':
      return new Int16Array(b);
    case 'u4':
      return new Uint32Array(b);
    case 'i4':
      return new Int32Array(b);
    case 'f4':
      return new Float32Array(b);
    case 'f8':
      return new Float64Array(b);
    case 'i8':
      return Float64Array.from(new BigInt64Array(b), (x) => Number(x));
    case 'u8':
      return Float64Array.from(new BigUint64Array(b), (x) => Number(x));
    case 'f2':
      return halfToFloat(new Uint16Array(b));
  }
}

function halfToFloat(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const v = h[i] ?? 0;
    const sign = v & 0x8000 ? -1 : 1;
    const exp = (v >> 10) & 0x1f;
    const frac = v & 0x3ff;
    if (exp === 0) out[i] = sign * frac * 2 ** -24;
    else if (exp === 31) out[i] = frac ? NaN : sign * Infinity;
    else out[i] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return out;
}

/** Reorders Fortran-order data into C order (the shape is the same, only the layout differs). */
function fortranToC(data: NpyData, shape: readonly number[]): NpyData {
  if (shape.length < 2) return data;
  const out = new (data.constructor as new (n: number) => NpyData)(data.length);
  const nd = shape.length;
  const fStride: number[] = [];
  let s = 1;
  for (let d = 0; d < nd; d++) {
    fStride.push(s);
    s *= shape[d] ?? 1;
  }
  const idx = new Array<number>(nd).fill(0);
  for (let c = 0; c < data.length; c++) {
    let f = 0;
    for (let d = 0; d < nd; d++) f += (idx[d] ?? 0) * (fStride[d] ?? 0);
    out[c] = data[f] ?? 0;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d] = (idx[d] ?? 0) + 1;
      if ((idx[d] ?? 0) < (shape[d] ?? 0)) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Decodes a whole .npy file held in memory. */
export function decodeNpy(buf: Uint8Array, source: string): NpyArray {
  const header = parseNpyHeader(buf, source);
  const need = header.dataOffset + header.size * header.itemSize;
  if (buf.length < need) {
    throw corrupt(source, `truncated .npy data: shape (${header.shape.join(', ')}) of ${header.dtype} needs ${need} bytes, found ${buf.length}`);
  }
  let data = decodeElements(header.dtype, buf.subarray(header.dataOffset), header.size);
  if (header.fortranOrder) data = fortranToC(data, header.shape);
  return { dtype: header.dtype, shape: header.shape, data };
}

export async function readNpyFile(file: string): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch (e) {
    throw new PipelineError('INPUT_MISSING', `${file}: cannot read (${(e as Error).message}); check the path`, { cause: e });
  }
  return decodeNpy(buf, file);
}

function descrOf(data: NpyData): string {
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Uint8Array) return '|u1';
  if (data instanceof Int8Array) return '|i1';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint32Array) return '<u4';
  if (data instanceof Int16Array) return '<i2';
  return '<u2';
}

/** Encodes a C-order array as .npy version 1.0 (header padded to a multiple of 64 bytes, as NumPy does). */
export function encodeNpy(data: NpyData, shape: readonly number[]): Uint8Array {
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== data.length)
    throw new PipelineError('TENSOR_SHAPE', `encodeNpy: shape (${shape.join(', ')}) holds ${size} elements but data has ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descrOf(data)}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
