/**
 * Data suite: decode + ADM crop + [-1, 1] NCHW throughput of the training loader (data/image-batches.ts)
 * over one epoch of generated files, at 32 px (synthetic PNGs, the smoke setting) and 256 px
 * (500×375 JPEGs, ImageNet-like: BOX halving is skipped, bicubic downsizing to ~256-320). The
 * reference is the same work in Pillow + numpy in one Python process (one upstream DataLoader
 * worker), run by the python that has torch. `ours_ms` / `torch_ms` are per epoch of the N files.
 * Every case decodes every epoch except the `decode-cached` ones (the loader's default for small
 * datasets: epochs after the first reuse the decoded images).
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { ImageBatchLoader, type Augment } from '../data/image-batches';
import type { Resampler } from '../data/adm-crop';
import { listImages } from '../data/images';
import { renderSyntheticImage, syntheticClasses, writeSyntheticDataset } from '../data/synthetic-images';
import { Rng } from '../models/training/rng';
import type { BenchCase, BenchContext, BenchSuite } from './run';
import { medianMs } from './run';

/** n ImageNet-like 500×375 JPEGs (quality 90) in four class folders under `dir`. */
export async function jpegFolder(dir: string, n: number): Promise<void> {
  const classes = syntheticClasses(4);
  for (let i = 0; i < n; i++) {
    const cls = classes[i % 4] as (typeof classes)[number];
    await mkdir(path.join(dir, cls.name), { recursive: true });
    const px = renderSyntheticImage(cls, 500, Rng.fromSeed(i));
    await sharp(px, { raw: { width: 500, height: 500, channels: 3 } })
      .extract({ left: 0, top: 60, width: 500, height: 375 })
      .jpeg({ quality: 90 })
      .toFile(path.join(dir, cls.name, `${i}.jpg`));
  }
}

function pilMs(python: string, augment: Augment, size: number, reps: number, files: string[]): number | null {
  const r = spawnSync(
    python,
    [path.join(__dirname, 'data_pil_bench.py'), augment === 'center-crop' ? 'center' : 'random', String(size), String(reps), ...files],
    { encoding: 'utf8', timeout: 600_000 },
  );
  if (r.status !== 0) return null;
  const ms = (JSON.parse(r.stdout) as { ms: number[] }).ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)] as number;
}

export const suite: BenchSuite = {
  name: 'data',
  description: 'ImageBatchLoader decode + ADM crop throughput vs Pillow/numpy in one Python process',
  async run(ctx: BenchContext): Promise<BenchCase[]> {
    const root = await mkdtemp(path.join(os.tmpdir(), 'bench-data-'));
    try {
      const small = path.join(root, 'small');
      await writeSyntheticDataset(small, { imageSize: 32, numClasses: 4, trainPerClass: ctx.quick ? 64 : 256, valPerClass: 0, seed: 0 });
      const large = path.join(root, 'large');
      await jpegFolder(large, ctx.quick ? 32 : 96);
      const cases: { name: string; root: string; size: number; augment: Augment; resampler: Resampler; cache: boolean }[] = [];
      for (const augment of ['random-crop-flip', 'center-crop'] as const) {
        cases.push({ name: `loader 32px ${augment}`, root: path.join(small, 'train'), size: 32, augment, resampler: 'sharp', cache: false });
        cases.push({ name: `loader 32px ${augment} decode-cached`, root: path.join(small, 'train'), size: 32, augment, resampler: 'sharp', cache: true });
        cases.push({ name: `loader 256px ${augment}`, root: large, size: 256, augment, resampler: 'sharp', cache: false });
        cases.push({ name: `loader 256px ${augment} pil-exact`, root: large, size: 256, augment, resampler: 'pil', cache: false });
      }
      const out: BenchCase[] = [];
      for (const c of cases) {
        const loader = await ImageBatchLoader.open({
          root: c.root,
          imageSize: c.size,
          batchSize: 32,
          augment: c.augment,
          shuffle: true,
          dropLast: false,
          resampler: c.resampler,
          decodeCacheBytes: c.cache ? undefined : 0,
        });
        let epoch = 0;
        const ours = await medianMs(
          async () => {
            for await (const b of loader.epoch(epoch++, Rng.fromSeed(1))) void b;
          },
          Math.max(1, Math.min(ctx.reps, 3)),
        );
        const files = await listImages(c.root);
        const torch =
          ctx.torch && c.resampler === 'sharp' && !c.cache ? pilMs(ctx.torch.python, c.augment, c.size, Math.max(1, Math.min(ctx.reps, 3)), files) : null;
        const n = loader.numImages;
        ctx.log(`${c.name}: ${((n * 1000) / ours).toFixed(0)} images/s${torch ? `, Pillow ${((n * 1000) / torch).toFixed(0)} images/s` : ''}`);
        out.push({
          suite: 'data',
          name: c.name,
          ours_ms: ours,
          torch_ms: torch,
          ratio: torch ? ours / torch : null,
          gflops: null,
          peak_gflops: null,
          ours_images_per_s: (n * 1000) / ours,
          torch_images_per_s: torch ? (n * 1000) / torch : null,
          note: `${n} images per epoch, batch 32`,
        });
      }
      return out;
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  },
};
