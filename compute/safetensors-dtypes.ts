/**
 * Element types of the safetensors format and conversions between float32 and the two 16-bit float
 * formats checkpoints use: IEEE half (F16) and bfloat16 (BF16, the top 16 bits of a float32). Rounding
 * on the way down is round-to-nearest-even, as PyTorch's `.half()` / `.bfloat16()` do, so a tensor
 * converted here and one converted by PyTorch are bit-identical.
 */
import { PipelineError } from '../core/errors';

export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
} as const;
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

export function isDtype(s: unknown): s is SafetensorsDtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

let halfTable: Float32Array | undefined;

/** F16 bits → float32 for every one of the 65 536 patterns (256 KiB, built once). */
function f16Table(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0)
      t[h] = sign * frac * 2 ** -24; // subnormal (or zero)
    else if (exp === 31) t[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

export function f16ToF32(bits: Uint16Array): Float32Array {
  const t = f16Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i] as number] as number;
  return out;
}

export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = (bits[i] as number) << 16;
  return out;
}

export function f32ToBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = u[i] as number;
    if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff)
      out[i] = (b >>> 16) | 0x40; // NaN stays a (quiet) NaN
    else out[i] = ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff; // round to nearest, ties to even
  }
  return out;
}

export function f32ToF16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const b = u[i] as number;
    const sign = (b >>> 16) & 0x8000;
    const exp = (b >>> 23) & 0xff;
    let mant = b & 0x7fffff;
    if (exp === 0xff) {
      out[i] = sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN
      continue;
    }
    const e = exp - 127 + 15;
    if (e >= 31) {
      out[i] = sign | 0x7c00; // overflow → Inf
      continue;
    }
    if (e <= 0) {
      if (e < -10) {
        out[i] = sign; // underflow → ±0
        continue;
      }
      // subnormal half: shift the mantissa (with its implicit 1) right and round to nearest even
      mant |= 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      const rest = mant & ((1 << shift) - 1);
      let m = mant >>> shift;
      if (rest > half || (rest === half && m & 1)) m++;
      out[i] = sign | m;
      continue;
    }
    let h = (e << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // may carry into the exponent, up to Inf: correct
    out[i] = sign | h;
  }
  return out;
}

/** Raw little-endian bytes of one tensor → float32 (F64, F32, F16, BF16) or int32 (integer types). */
export function decodeElements(dtype: SafetensorsDtype, bytes: Uint8Array, name: string): Float32Array | Int32Array {
  // Copy into an aligned buffer when the view is not aligned for the element size (new Uint8Array(x)
  // always copies; Buffer#slice would not).
  const size = DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
  const { buffer, byteOffset, byteLength } = aligned;
  const n = byteLength / size;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer, byteOffset, n);
    case 'F64':
      return Float32Array.from(new Float64Array(buffer, byteOffset, n));
    case 'F16':
      return f16ToF32(new Uint16Array(buffer, byteOffset, n));
    case 'BF16':
      return bf16ToF32(new Uint16Array(buffer, byteOffset, n));
    case 'I32':
      return new Int32Array(buffer, byteOffset, n);
    case 'I16':
      return Int32Array.from(new Int16Array(buffer, byteOffset, n));
    case 'I8':
      return Int32Array.from(new Int8Array(buffer, byteOffset, n));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(new Uint8Array(buffer, byteOffset, n));
    case 'I64': {
      const big = new BigInt64Array(buffer, byteOffset, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = big[i] as bigint;
        if (v > 2147483647n || v < -2147483648n)
          throw new PipelineError('DATA_CORRUPT', `tensor ${name}: I64 value ${v} does not fit int32 (tfjs has no int64)`);
        out[i] = Number(v);
      }
      return out;
    }
  }
}

/** float32 values → the bytes of `dtype` (F32, F16, BF16). */
export function encodeFloats(dtype: 'F32' | 'F16' | 'BF16', x: Float32Array): Uint8Array {
  const arr = dtype === 'F32' ? x : dtype === 'F16' ? f32ToF16(x) : f32ToBf16(x);
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}
