/**
 * The ADM (guided-diffusion) crops RobusTok trains and evaluates with (algorithm dossier §2.5, §4):
 *
 * - `centerCropArr(img, s)`: halve with a BOX filter while the short side is ≥ 2s, resize so the
 *   short side is s (each side `round(side · s / short)`), take the centred s×s window.
 * - `randomCropArr(img, s, rng)`: draw the short side uniformly from [⌈s/1.0⌉, ⌈s/0.8⌉], halve while
 *   the short side is ≥ twice that, resize to it, take a uniformly random s×s window.
 * - `tenCrop(img, s)`: `centerCropArr` to ⌊1.1·s⌋, then torchvision's TenCrop order: top-left,
 *   top-right, bottom-left, bottom-right, centre, then the same five of the mirrored image.
 *
 * Halving is Pillow's BOX filter, exactly (data/pil-resample.ts). The bicubic step, with the default
 * `resampler: 'sharp'`: downsizing runs in libvips (kernel 'cubic' = Catmull-Rom, a = −0.5, like
 * Pillow's BICUBIC, and widened by the scale like Pillow's), which rounds its fixed-point weights
 * differently: pixels differ from Pillow's by ≤ 4 levels, mean ≈ 0.3 (test/unit/data/adm-crop.test.ts).
 * Upsizing never goes to libvips: its upsampler places output samples on a grid shifted against
 * Pillow's by a fraction of a pixel (measured up to 171 levels apart on a noisy image), so it runs in
 * the Pillow-exact JS resampler. `resampler: 'pil'` uses the JS resampler for downsizing too:
 * bit-exact with upstream, ~5× slower than libvips.
 *
 * Randomness comes from an `Rng` (Philox; models/training/rng.ts) that the caller derives per image,
 * so a resumed run draws the same crops. Draw order per image: short side, crop y, crop x, flip.
 */
import sharp from 'sharp';
import { PipelineError } from '../core/errors';
import type { Rng } from '../models/training/rng';
import type { RgbImage } from './images';
import { pilResize } from './pil-resample';

export type Resampler = 'sharp' | 'pil';

export interface CropOptions {
  /** Who performs the bicubic resize (halving is always Pillow-exact). */
  readonly resampler?: Resampler;
}

/** Resizes RGB to width×height with a bicubic (Catmull-Rom) kernel (see the module comment for who does it). Same size ⇒ a copy, as Pillow does. */
export async function resizeBicubic(img: RgbImage, width: number, height: number, resampler: Resampler = 'sharp'): Promise<RgbImage> {
  if (width === img.width && height === img.height) return { data: img.data.slice(), width, height };
  if (resampler === 'pil' || width > img.width || height > img.height) return pilResize(img, width, height, 'bicubic');
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== width || info.height !== height) {
    throw new PipelineError('INTERNAL', `sharp resize returned ${info.width}×${info.height}×${info.channels}, expected ${width}×${height}×3`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height };
}

/** Pillow BOX halving (⌊w/2⌋ × ⌊h/2⌋) while the short side is ≥ 2·`target`. */
function halveWhileLarge(img: RgbImage, target: number): RgbImage {
  let cur = img;
  while (Math.min(cur.width, cur.height) >= 2 * target) cur = pilResize(cur, Math.floor(cur.width / 2), Math.floor(cur.height / 2), 'box');
  return cur;
}

/** Python's round(): half to even (matters for sides like 2.5 → 2). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Scales so the short side becomes `short` (each side rounded like Python's round(side · scale)). */
async function resizeShortSide(img: RgbImage, short: number, resampler: Resampler): Promise<RgbImage> {
  const scale = short / Math.min(img.width, img.height);
  return resizeBicubic(img, roundHalfEven(img.width * scale), roundHalfEven(img.height * scale), resampler);
}

export function cropRgb(img: RgbImage, top: number, left: number, height: number, width: number): RgbImage {
  if (top < 0 || left < 0 || top + height > img.height || left + width > img.width) {
    throw new PipelineError('INTERNAL', `crop ${width}×${height} at (${left}, ${top}) outside a ${img.width}×${img.height} image`);
  }
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { data: out, width, height };
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const out = new Uint8Array(img.data.length);
  const { width, height, data } = img;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const s = (y * width + x) * 3;
      const d = (y * width + (width - 1 - x)) * 3;
      out[d] = data[s] as number;
      out[d + 1] = data[s + 1] as number;
      out[d + 2] = data[s + 2] as number;
    }
  }
  return { data: out, width, height };
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1) throw new PipelineError('CONFIG_INVALID', `crop size must be a positive integer, got ${size}`);
}

export async function centerCropArr(img: RgbImage, size: number, opts: CropOptions = {}): Promise<RgbImage> {
  checkSize(size);
  const resized = await resizeShortSide(halveWhileLarge(img, size), size, opts.resampler ?? 'sharp');
  // Floor division, as ADM's (H - s) // 2.
  return cropRgb(resized, Math.floor((resized.height - size) / 2), Math.floor((resized.width - size) / 2), size, size);
}

export interface RandomCropOptions extends CropOptions {
  readonly minCropFrac?: number;
  readonly maxCropFrac?: number;
  /** Mirror with probability ½ after cropping (RandomHorizontalFlip). Default true. */
  readonly flip?: boolean;
}

export async function randomCropArr(img: RgbImage, size: number, rng: Rng, opts: RandomCropOptions = {}): Promise<RgbImage> {
  checkSize(size);
  const minFrac = opts.minCropFrac ?? 0.8;
  const maxFrac = opts.maxCropFrac ?? 1.0;
  if (!(minFrac > 0 && minFrac <= maxFrac && maxFrac <= 1))
    throw new PipelineError('CONFIG_INVALID', `crop fractions must satisfy 0 < min ≤ max ≤ 1, got ${minFrac}, ${maxFrac}`);
  const lo = Math.ceil(size / maxFrac);
  const hi = Math.ceil(size / minFrac);
  const short = lo + rng.int(hi - lo + 1);
  const resized = await resizeShortSide(halveWhileLarge(img, short), short, opts.resampler ?? 'sharp');
  const top = rng.int(resized.height - size + 1);
  const left = rng.int(resized.width - size + 1);
  const crop = cropRgb(resized, top, left, size, size);
  // Always draw, so the stream advances the same whether or not flipping is enabled.
  const mirror = rng.uniform() < 0.5;
  return (opts.flip ?? true) && mirror ? flipHorizontal(crop) : crop;
}

/** torchvision's center_crop offset: int(round((H - s) / 2)) with Python's half-to-even rounding. */
function centredOffset(side: number, size: number): number {
  return roundHalfEven((side - size) / 2);
}

function fiveCrop(img: RgbImage, size: number): RgbImage[] {
  const { width: w, height: h } = img;
  return [
    cropRgb(img, 0, 0, size, size),
    cropRgb(img, 0, w - size, size, size),
    cropRgb(img, h - size, 0, size, size),
    cropRgb(img, h - size, w - size, size, size),
    cropRgb(img, centredOffset(h, size), centredOffset(w, size), size, size),
  ];
}

/** Ten s×s views of one image for pretokenization (LlamaGen/RobusTok `--ten_crop`). */
export async function tenCrop(img: RgbImage, size: number, opts: CropOptions = {}): Promise<RgbImage[]> {
  checkSize(size);
  const base = await centerCropArr(img, Math.floor(size * 1.1), opts);
  return [...fiveCrop(base, size), ...fiveCrop(flipHorizontal(base), size)];
}

/**
 * Writes HWC uint8 RGB into `out` at `offset` as CHW float32 in [-1, 1] (ToTensor then
 * Normalize(0.5, 0.5)): v / 127.5 − 1.
 */
export function writeChwSigned(img: RgbImage, out: Float32Array, offset: number): void {
  const plane = img.width * img.height;
  const d = img.data;
  for (let i = 0; i < plane; i++) {
    out[offset + i] = (d[i * 3] as number) / 127.5 - 1;
    out[offset + plane + i] = (d[i * 3 + 1] as number) / 127.5 - 1;
    out[offset + 2 * plane + i] = (d[i * 3 + 2] as number) / 127.5 - 1;
  }
}
