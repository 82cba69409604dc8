/**
 * A class-conditional procedural image dataset, so smoke pipelines need no download. Each class is a
 * distinct (shape, texture, palette): shape = class mod 8, texture = ⌊class / 8⌋ mod 4, hue spaced by
 * the golden ratio. Each image draws its own position, scale, rotation, colour jitter, background
 * gradient and pixel noise from a Philox sub-stream keyed by (seed, split, class, index), so an
 * image does not depend on how many others are generated, and the same config gives byte-identical
 * PNGs (sharp's PNG encoder writes no timestamps).
 *
 * Layout (torchvision ImageFolder): <dir>/train/<class>/<index>.png, <dir>/val/<class>/<index>.png,
 * plus <dir>/dataset.json. Class folder names start with the zero-padded class index, so their
 * sorted order is the class order.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { PipelineError } from '../core/errors';
import { Rng } from '../models/training/rng';
import { subStream } from './image-batches';

export const SYNTHETIC_GENERATOR_VERSION = '1';

export const SHAPES = ['disc', 'square', 'triangle', 'ring', 'stripes', 'cross', 'star', 'crescent'] as const;
export const TEXTURES = ['solid', 'checker', 'gradient', 'dots'] as const;

export interface SyntheticDatasetOptions {
  readonly imageSize: number;
  readonly numClasses: number;
  readonly trainPerClass: number;
  readonly valPerClass: number;
  readonly seed: number;
}

export interface SyntheticClass {
  readonly name: string;
  readonly shape: (typeof SHAPES)[number];
  readonly texture: (typeof TEXTURES)[number];
  /** Hue of the foreground palette in [0, 1). */
  readonly hue: number;
}

export interface SyntheticDatasetInfo {
  readonly generator: 'robustok.synthetic-images';
  readonly version: string;
  readonly imageSize: number;
  readonly seed: number;
  readonly numClasses: number;
  readonly classes: readonly SyntheticClass[];
  readonly splits: { readonly train: { perClass: number; count: number }; readonly val: { perClass: number; count: number } };
}

const SPLITS = { train: 1, val: 2 } as const;
const ENCODE_CHUNK = 32;
const SUPERSAMPLE = 3; // 3×3 samples per pixel: smooth edges even at 16 px

export function syntheticClasses(numClasses: number): SyntheticClass[] {
  const digits = Math.max(2, String(numClasses - 1).length);
  return Array.from({ length: numClasses }, (_, c) => {
    const shape = SHAPES[c % SHAPES.length] as SyntheticClass['shape'];
    const texture = TEXTURES[Math.floor(c / SHAPES.length) % TEXTURES.length] as SyntheticClass['texture'];
    const hue = (c * 0.6180339887498949) % 1;
    return { name: `${String(c).padStart(digits, '0')}-${shape}-${texture}`, shape, texture, hue: Math.round(hue * 1e6) / 1e6 };
  });
}

type Point = (u: number, v: number) => boolean;

/** Whether local point (u, v) (shape radius 1) is inside the shape. */
const INSIDE: Readonly<Record<SyntheticClass['shape'], Point>> = {
  disc: (u, v) => u * u + v * v <= 1,
  square: (u, v) => Math.abs(u) <= 0.8 && Math.abs(v) <= 0.8,
  triangle: (u, v) => v <= 0.5 && Math.sqrt(3) * u - v <= 1 && -Math.sqrt(3) * u - v <= 1,
  ring: (u, v) => {
    const r2 = u * u + v * v;
    return r2 <= 1 && r2 >= 0.3;
  },
  stripes: (u, v) => Math.abs(u) <= 0.9 && Math.abs(v) <= 0.9 && Math.floor((u + 0.9) * 2.8) % 2 === 0,
  cross: (u, v) => (Math.abs(u) <= 0.3 && Math.abs(v) <= 1) || (Math.abs(v) <= 0.3 && Math.abs(u) <= 1),
  // Five points: the radius swings between 0.45 and 1 with the angle (rotation-distinct from every other shape).
  star: (u, v) => Math.hypot(u, v) <= 0.725 + 0.275 * Math.cos(5 * Math.atan2(v, u)),
  crescent: (u, v) => u * u + v * v <= 1 && (u - 0.45) * (u - 0.45) + v * v > 0.55,
};

/** Texture mix in [0, 1] between the palette's two colours at local (u, v). */
const TEXTURE_MIX: Readonly<Record<SyntheticClass['texture'], (u: number, v: number) => number>> = {
  solid: () => 0,
  checker: (u, v) => (Math.floor((u + 2) * 2.5) + Math.floor((v + 2) * 2.5)) % 2,
  gradient: (u) => Math.min(1, Math.max(0, (u + 1) / 2)),
  dots: (u, v) => (Math.sin(u * 9) * Math.sin(v * 9) > 0.35 ? 1 : 0),
};

/**
 * Per-pixel grain: Philox costs ~1 µs per 4 words in JS, too slow for 3 draws per pixel, so the image's
 * Philox stream only seeds this small generator. Triangular on (−1, 1), variance 1/6 · 6 = 1.
 */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => (next() + next() - 1) * Math.sqrt(6);
}

function clampByte(v: number): number {
  return Math.min(255, Math.max(0, Math.round(v)));
}

function hsv(h: number, s: number, v: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 6) % 6;
    return v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  };
  return [255 * f(5), 255 * f(3), 255 * f(1)];
}

/** One H×W×3 uint8 image of class `cls`, every random choice drawn from `rng`. */
export function renderSyntheticImage(cls: SyntheticClass, size: number, rng: Rng): Uint8Array {
  const radius = size * (0.22 + 0.16 * rng.uniform());
  const margin = radius * 0.7;
  const cx = margin + (size - 2 * margin) * rng.uniform();
  const cy = margin + (size - 2 * margin) * rng.uniform();
  const angle = 2 * Math.PI * rng.uniform();
  const jitter = () => 0.08 * (rng.uniform() - 0.5);
  const fgA = hsv((cls.hue + jitter() + 1) % 1, 0.8, 0.95);
  const fgB = hsv((cls.hue + 0.12 + jitter() + 1) % 1, 0.9, 0.55);
  const bgHue = (cls.hue + 0.5 + 4 * jitter() + 1) % 1;
  const bg0 = hsv(bgHue, 0.25, 0.2 + 0.15 * rng.uniform());
  const bg1 = hsv(bgHue, 0.25, 0.2 + 0.15 * rng.uniform());
  const gradAngle = 2 * Math.PI * rng.uniform();
  const [gx, gy] = [Math.cos(gradAngle), Math.sin(gradAngle)];
  const noise = 4 + 6 * rng.uniform();
  const grain = mulberry32(rng.nextUint32());
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const out = new Uint8Array(size * size * 3);
  const n2 = SUPERSAMPLE * SUPERSAMPLE;
  const inside = INSIDE[cls.shape];
  const textureMix = TEXTURE_MIX[cls.texture];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const t = Math.min(1, Math.max(0, 0.5 + ((x / size - 0.5) * gx + (y / size - 0.5) * gy)));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let s = 0; s < n2; s++) {
        const px = x + ((s % SUPERSAMPLE) + 0.5) / SUPERSAMPLE - cx;
        const py = y + (Math.floor(s / SUPERSAMPLE) + 0.5) / SUPERSAMPLE - cy;
        // Image offset → shape-local coordinates (rotate by −angle, unit radius).
        const u = (px * cos + py * sin) / radius;
        const v = (-px * sin + py * cos) / radius;
        if (inside(u, v)) {
          const m = textureMix(u, v);
          r += fgA[0] * (1 - m) + fgB[0] * m;
          g += fgA[1] * (1 - m) + fgB[1] * m;
          b += fgA[2] * (1 - m) + fgB[2] * m;
        } else {
          r += bg0[0] * (1 - t) + bg1[0] * t;
          g += bg0[1] * (1 - t) + bg1[1] * t;
          b += bg0[2] * (1 - t) + bg1[2] * t;
        }
      }
      const o = (y * size + x) * 3;
      out[o] = clampByte(r / n2 + noise * grain());
      out[o + 1] = clampByte(g / n2 + noise * grain());
      out[o + 2] = clampByte(b / n2 + noise * grain());
    }
  }
  return out;
}

function checkOptions(o: SyntheticDatasetOptions): void {
  const positive = (k: keyof SyntheticDatasetOptions, min: number, max: number) => {
    const v = o[k];
    if (!Number.isInteger(v) || v < min || v > max)
      throw new PipelineError('CONFIG_INVALID', `synthetic dataset: ${k} must be an integer in [${min}, ${max}], got ${v}`);
  };
  positive('imageSize', 8, 1024);
  positive('numClasses', 1, 1000);
  positive('trainPerClass', 0, 1_000_000);
  positive('valPerClass', 0, 1_000_000);
  if (!Number.isSafeInteger(o.seed) || o.seed < 0)
    throw new PipelineError('CONFIG_INVALID', `synthetic dataset: seed must be a non-negative safe integer, got ${o.seed}`);
}

export interface WriteSyntheticOptions {
  readonly signal?: AbortSignal;
  /** Called after each written image with (done, total). */
  readonly progress?: (done: number, total: number) => void;
}

/** Writes the dataset under `dir` (created if needed) and returns what dataset.json holds. */
export async function writeSyntheticDataset(dir: string, o: SyntheticDatasetOptions, w: WriteSyntheticOptions = {}): Promise<SyntheticDatasetInfo> {
  checkOptions(o);
  const classes = syntheticClasses(o.numClasses);
  const base = Rng.fromSeed(o.seed);
  const digits = Math.max(String(Math.max(o.trainPerClass, o.valPerClass) - 1).length, 3);
  const total = o.numClasses * (o.trainPerClass + o.valPerClass);
  let done = 0;
  for (const [split, perClass] of [
    ['train', o.trainPerClass],
    ['val', o.valPerClass],
  ] as const) {
    for (const [c, cls] of classes.entries()) {
      const folder = path.join(dir, split, cls.name);
      await mkdir(folder, { recursive: true });
      // Encode a chunk of images concurrently (sharp works on its own threads), write them in order.
      for (let start = 0; start < perClass; start += ENCODE_CHUNK) {
        w.signal?.throwIfAborted();
        const indices = Array.from({ length: Math.min(ENCODE_CHUNK, perClass - start) }, (_, k) => start + k);
        const pngs = await Promise.all(
          indices.map((i) => {
            const pixels = renderSyntheticImage(cls, o.imageSize, subStream(base, SPLITS[split], c, i));
            return sharp(pixels, { raw: { width: o.imageSize, height: o.imageSize, channels: 3 } })
              .png({ compressionLevel: 6, adaptiveFiltering: false })
              .toBuffer();
          }),
        );
        for (const [k, png] of pngs.entries()) {
          await writeFile(path.join(folder, `${String(start + k).padStart(digits, '0')}.png`), png);
          w.progress?.(++done, total);
        }
      }
    }
  }
  const info: SyntheticDatasetInfo = {
    generator: 'robustok.synthetic-images',
    version: SYNTHETIC_GENERATOR_VERSION,
    imageSize: o.imageSize,
    seed: o.seed,
    numClasses: o.numClasses,
    classes,
    splits: {
      train: { perClass: o.trainPerClass, count: o.trainPerClass * o.numClasses },
      val: { perClass: o.valPerClass, count: o.valPerClass * o.numClasses },
    },
  };
  await writeFile(path.join(dir, 'dataset.json'), `${JSON.stringify(info, null, 2)}\n`);
  return info;
}
