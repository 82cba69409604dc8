/**
 * Pillow's separable resampling (`Image.resize`, 8-bit path) re-done in plain JS, bit-exact: the
 * same support scaling when downsizing, the same fixed-point weights (22 fraction bits), horizontal
 * pass then vertical, each rounded and clipped to uint8. The ADM crops need Pillow's BOX filter for
 * their power-of-two halving (sharp has no box kernel, and an odd side makes the box wider than
 * 2 pixels with fractional edge weights); BICUBIC is here too so tests can compare sharp's cubic
 * resize against the exact Pillow result without Python.
 */
import type { RgbImage } from './images';

export type PilFilter = 'box' | 'bicubic';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = ONE / 2;

const FILTERS: Readonly<Record<PilFilter, { support: number; fn: (x: number) => number }>> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bicubic: {
    support: 2,
    fn: (x) => {
      // Keys cubic with a = -0.5 (Pillow's BICUBIC).
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

interface Coeffs {
  readonly bounds: Int32Array; // per output index: [xmin, count]
  readonly weights: Int32Array; // per output index: ksize fixed-point weights
  readonly ksize: number;
}

/** Coefficients by (filter, in, out): a dataset of same-sized images reuses them for every image. */
const COEFF_CACHE = new Map<string, Coeffs>();
const COEFF_CACHE_LIMIT = 256;

function coefficients(inSize: number, outSize: number, filter: PilFilter): Coeffs {
  const key = `${filter}:${inSize}:${outSize}`;
  let c = COEFF_CACHE.get(key);
  if (c === undefined) {
    c = precompute(inSize, outSize, filter);
    if (COEFF_CACHE.size >= COEFF_CACHE_LIMIT) COEFF_CACHE.delete(COEFF_CACHE.keys().next().value as string);
    COEFF_CACHE.set(key, c);
  }
  return c;
}

function precompute(inSize: number, outSize: number, filter: PilFilter): Coeffs {
  const { support: baseSupport, fn } = FILTERS[filter];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = baseSupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    // C's (int) cast truncates toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? (k[x] as number) / ww : (k[x] as number);
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, weights, ksize };
}

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return (v / ONE) | 0; // v in (0, 2^30): truncation = floor
}

/** Resamples along x: every row of `src` → `outW` columns. Sums stay below 2^53, so doubles are exact. */
function horizontalPass(src: RgbImage, outW: number, c: Coeffs): RgbImage {
  const { bounds, weights, ksize } = c;
  const { width: inW, height: h, data: s } = src;
  const out = new Uint8Array(outW * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * inW * 3;
    let q = y * outW * 3;
    for (let x = 0; x < outW; x++) {
      const n = bounds[x * 2 + 1] as number;
      let p = row + (bounds[x * 2] as number) * 3;
      let k = x * ksize;
      let r = HALF;
      let g = HALF;
      let b = HALF;
      for (let i = 0; i < n; i++, p += 3, k++) {
        const w = weights[k] as number;
        r += (s[p] as number) * w;
        g += (s[p + 1] as number) * w;
        b += (s[p + 2] as number) * w;
      }
      out[q++] = clip8(r);
      out[q++] = clip8(g);
      out[q++] = clip8(b);
    }
  }
  return { data: out, width: outW, height: h };
}

/** Resamples along y: `outH` rows, each value a weighted sum down its column (taps few, so rows stay in cache). */
function verticalPass(src: RgbImage, outH: number, c: Coeffs): RgbImage {
  const { bounds, weights, ksize } = c;
  const { width: w, data: s } = src;
  const stride = w * 3;
  const out = new Uint8Array(outH * stride);
  for (let y = 0; y < outH; y++) {
    const base = (bounds[y * 2] as number) * stride;
    const n = bounds[y * 2 + 1] as number;
    const k0 = y * ksize;
    const q = y * stride;
    for (let j = 0; j < stride; j++) {
      let acc = HALF;
      for (let i = 0, p = base + j; i < n; i++, p += stride) acc += (s[p] as number) * (weights[k0 + i] as number);
      out[q + j] = clip8(acc);
    }
  }
  return { data: out, width: w, height: outH };
}

/** `img.resize((width, height), filter)` as Pillow computes it for an RGB image. */
export function pilResize(img: RgbImage, width: number, height: number, filter: PilFilter): RgbImage {
  if (width === img.width && height === img.height) return { data: img.data.slice(), width, height };
  let cur = img;
  if (width !== img.width) cur = horizontalPass(cur, width, coefficients(img.width, width, filter));
  if (height !== img.height) cur = verticalPass(cur, height, coefficients(img.height, height, filter));
  return cur;
}
