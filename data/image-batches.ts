/**
 * Training/validation batches from an ImageFolder, as plain typed arrays (no tfjs: the stage picks
 * the tensor backend): images NCHW float32 in [-1, 1], int32 labels, and the source paths.
 *
 * Resumable by construction. The loader never draws from the `Rng` it is given; it only reads its
 * key and derives independent Philox sub-streams from (key, purpose, epoch, index):
 * - the epoch's order: a permutation from the sub-stream (key, ORDER, epoch);
 * - each image's crop and flip: the sub-stream (key, CROP, epoch, sample index).
 * So batch `s` of epoch `e` is a pure function of (files, options, key, e, s): a run resumed at
 * (e, s) with `epoch(e, rng, s)` sees exactly the batches an uninterrupted run saw, whatever the
 * prefetching, batch boundaries or other draws from the same stream did in between.
 *
 * While the caller works on batch s, batch s+1 is decoded (a one-batch prefetch); within a batch at
 * most `concurrency` images are in flight (sharp decodes and resizes on libuv worker threads).
 * Decoded images are kept up to a byte budget, so small datasets are decoded once per run.
 */
import { PipelineError } from '../core/errors';
import { philox4x32, Rng } from '../models/training/rng';
import { centerCropArr, randomCropArr, writeChwSigned, type Resampler } from './adm-crop';
import { decodeSample, openImageFolder, type ImageFolder } from './image-folder';
import type { RgbImage } from './images';
import { mapLimit } from '../core/map-limit';

export type Augment = 'random-crop-flip' | 'center-crop';

export interface ImageBatchLoaderOptions {
  readonly root: string;
  readonly imageSize: number;
  readonly batchSize: number;
  /** 'random-crop-flip': ADM random_crop_arr + horizontal flip (training); 'center-crop': ADM center_crop_arr (validation). */
  readonly augment: Augment;
  readonly shuffle: boolean;
  /** Drop the last incomplete batch (training); keep it (validation). */
  readonly dropLast: boolean;
  /** Skip undecodable images with a warning instead of failing; the batch holding one is then smaller (empty, B = 0, if all were). */
  readonly skipCorrupt?: boolean;
  readonly log?: (m: string) => void;
  /** Images decoded at once within a batch (default 8). */
  readonly concurrency?: number;
  /** Bicubic resize implementation (data/adm-crop.ts); default sharp. */
  readonly resampler?: Resampler;
  /**
   * Keep decoded images in memory up to this many bytes (default 256 MiB), so later epochs of a small
   * dataset (the smoke runs: 32 px, a few thousand images) skip decoding. 0 disables the cache.
   */
  readonly decodeCacheBytes?: number;
}

export interface ImageBatch {
  /** [B, 3, H, W] float32 in [-1, 1]. */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly paths: string[];
  readonly shape: [number, 3, number, number];
  /** Position of this batch within its epoch. */
  readonly step: number;
}

const ORDER = 0x6f726472; // 'ordr'
const CROP = 0x63726f70; // 'crop'
const TWO32 = 4294967296;
const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;

/** An independent stream keyed by (base key, purpose, a, b); the base stream is not advanced. */
export function subStream(base: Rng, purpose: number, a: number, b = 0): Rng {
  const { key } = base.getState();
  const [k0, k1] = philox4x32([purpose >>> 0, a >>> 0, b >>> 0, Math.floor(b / TWO32) >>> 0], key);
  return new Rng({ algorithm: 'philox4x32-10', key: [k0, k1], counter: 0, offset: 0 });
}

export class ImageBatchLoader {
  readonly numImages: number;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  private readonly decoded = new Map<number, RgbImage>();
  private cachedBytes = 0;

  constructor(
    readonly opts: ImageBatchLoaderOptions,
    private readonly folder: ImageFolder,
  ) {
    for (const k of ['imageSize', 'batchSize'] as const) {
      if (!Number.isInteger(opts[k]) || opts[k] < 1)
        throw new PipelineError('CONFIG_INVALID', `ImageBatchLoader: ${k} must be a positive integer, got ${opts[k]}`);
    }
    this.numImages = folder.samples.length;
    this.classNames = folder.classNames;
    this.numClasses = folder.classNames.length;
  }

  /** Lists the ImageFolder at `opts.root` (INPUT_MISSING when absent or empty). */
  static async open(opts: ImageBatchLoaderOptions): Promise<ImageBatchLoader> {
    return new ImageBatchLoader(opts, await openImageFolder(opts.root));
  }

  stepsPerEpoch(): number {
    const n = this.numImages / this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Sample indices of epoch `epoch` in visiting order. */
  order(epoch: number, rng: Rng): Int32Array {
    if (!this.opts.shuffle) return Int32Array.from({ length: this.numImages }, (_, i) => i);
    return subStream(rng, ORDER, epoch).permutation(this.numImages);
  }

  /** Batches `startStep`..stepsPerEpoch()−1 of epoch `epoch` (see the module comment for determinism). */
  async *epoch(epoch: number, rng: Rng, startStep = 0): AsyncGenerator<ImageBatch> {
    if (!Number.isInteger(epoch) || epoch < 0)
      throw new PipelineError('INTERNAL', `ImageBatchLoader.epoch: epoch must be a non-negative integer, got ${epoch}`);
    const steps = this.stepsPerEpoch();
    if (!Number.isInteger(startStep) || startStep < 0 || startStep > steps) {
      throw new PipelineError(
        'CHECKPOINT_MISMATCH',
        `ImageBatchLoader.epoch: start step ${startStep} outside 0..${steps} (the dataset or batch size changed since the checkpoint?)`,
      );
    }
    const order = this.order(epoch, rng);
    const load = (s: number) => {
      const p = this.batch(order, s, epoch, rng);
      p.catch(() => undefined); // a prefetch the consumer never awaits must not become an unhandled rejection
      return p;
    };
    let next = startStep < steps ? load(startStep) : undefined;
    for (let s = startStep; s < steps; s++) {
      const cur = await (next as Promise<ImageBatch>);
      next = s + 1 < steps ? load(s + 1) : undefined;
      yield cur;
    }
  }

  private async decode(index: number, file: string): Promise<RgbImage | undefined> {
    const hit = this.decoded.get(index);
    if (hit) return hit;
    const img = await decodeSample(file, { skipCorrupt: this.opts.skipCorrupt, log: this.opts.log });
    // Crops never write into their source, so a cached image can be shared across epochs.
    if (img && this.cachedBytes + img.data.byteLength <= (this.opts.decodeCacheBytes ?? DEFAULT_CACHE_BYTES)) {
      this.decoded.set(index, img);
      this.cachedBytes += img.data.byteLength;
    }
    return img;
  }

  private async batch(order: Int32Array, step: number, epoch: number, rng: Rng): Promise<ImageBatch> {
    const { batchSize, imageSize: size, augment, resampler } = this.opts;
    const picks = Array.from(order.subarray(step * batchSize, Math.min((step + 1) * batchSize, order.length)));
    const crops = await mapLimit(picks, this.opts.concurrency ?? 8, async (index) => {
      const sample = this.folder.samples[index];
      if (sample === undefined) throw new PipelineError('INTERNAL', `sample ${index} out of range`);
      const img = await this.decode(index, sample.path);
      if (img === undefined) return undefined;
      const crop =
        augment === 'center-crop'
          ? await centerCropArr(img, size, { resampler })
          : await randomCropArr(img, size, subStream(rng, CROP, epoch, index), { resampler });
      return { crop, sample };
    });
    const kept = crops.filter((c) => c !== undefined);
    const plane = 3 * size * size;
    const images = new Float32Array(kept.length * plane);
    const labels = new Int32Array(kept.length);
    const paths: string[] = [];
    kept.forEach(({ crop, sample }, i) => {
      writeChwSigned(crop, images, i * plane); // HWC uint8 -> CHW [-1, 1] at slot i of [B, 3, H, W]
      labels[i] = sample.label;
      paths.push(sample.path);
    });
    return { images, labels, paths, shape: [kept.length, 3, size, size], step };
  }
}
