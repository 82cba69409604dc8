/**
 * Held-out validation of a tokenizer during training: ADM center crops of the validation split are
 * reconstructed (no perturbation, no drop-path) and scored by PSNR, SSIM and codebook usage; with FID
 * Inception weights, also rFID of the reconstructions against the same images (upstream's in-training
 * rFID is reconstructions vs their own val images, not the ADM reference batch).
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { ImageBatchLoader } from '../data/image-batches';
import { psnr, ssim } from '../metrics/image-quality';
import type { RobustokTokenizer } from '../models/robustok-tokenizer';
import { toUint8Hwc } from '../models/tokenizer-images';
import { Rng } from '../models/training/rng';
import { evalFid } from './eval-fid';
import type { StageLogger } from './stage';

export interface ValidationResult {
  psnr: number;
  ssim: number;
  /** Fraction of the codebook the validation images use. */
  codebookUsage: number;
  images: number;
  rfid?: number;
}

export interface ValidationOptions {
  root: string;
  batchSize: number;
  /** 0 = every image. */
  maxImages: number;
  fidWeights?: string;
  skipCorrupt: boolean;
  workdir: string;
  log: StageLogger;
}

/** PSNR is capped so a perfect reconstruction does not turn an average into +Infinity. */
const PSNR_CAP = 100;

export async function validateTokenizer(model: RobustokTokenizer, o: ValidationOptions): Promise<ValidationResult> {
  const size = model.config.image_size;
  const loader = await ImageBatchLoader.open({
    root: o.root,
    imageSize: size,
    batchSize: o.batchSize,
    augment: 'center-crop',
    shuffle: false,
    dropLast: false,
    skipCorrupt: o.skipCorrupt,
    log: (m) => o.log.warn(m),
  });
  const used = new Uint8Array(model.config.codebook_size);
  let sumPsnr = 0;
  let sumSsim = 0;
  let n = 0;
  const fidDirs = o.fidWeights ? { real: path.join(o.workdir, 'rfid', 'real'), recon: path.join(o.workdir, 'rfid', 'recon') } : undefined;
  if (fidDirs) {
    await rm(path.join(o.workdir, 'rfid'), { recursive: true, force: true });
    await Promise.all([mkdir(fidDirs.real, { recursive: true }), mkdir(fidDirs.recon, { recursive: true })]);
  }
  // The loader only reads the key of this stream (center crops draw nothing).
  for await (const batch of loader.epoch(0, new Rng({ algorithm: 'philox4x32-10', key: [0, 0], counter: 0, offset: 0 }))) {
    const take = o.maxImages > 0 ? Math.min(batch.shape[0], o.maxImages - n) : batch.shape[0];
    if (take <= 0) break;
    const [B, C, H, W] = batch.shape;
    const x = tf.tidy(() => tf.tensor4d(batch.images, [B, C, H, W]).slice([0, 0, 0, 0], [take, C, H, W]));
    const { recon, codes } = tf.tidy(() => {
      const out = model.forward(x, { training: false });
      return { recon: out.recon as tf.Tensor4D, codes: out.codes };
    });
    const p = psnr(x, recon);
    const s = ssim(x, recon);
    for (const v of p.dataSync()) sumPsnr += Math.min(v, PSNR_CAP);
    for (const v of s.dataSync()) sumSsim += v;
    for (const id of codes.dataSync()) used[id] = 1;
    if (fidDirs) await writePngs([x, recon], [fidDirs.real, fidDirs.recon], n);
    tf.dispose([x, recon, codes, p, s]);
    n += take;
  }
  const usage = used.reduce((a, b) => a + b, 0) / used.length;
  const result: ValidationResult = { psnr: n ? sumPsnr / n : 0, ssim: n ? sumSsim / n : 0, codebookUsage: usage, images: n };
  if (fidDirs && n > 1) {
    const report = await evalFid(
      { samplesPath: fidDirs.recon, referencePath: fidDirs.real, weightsPath: o.fidWeights, batchSize: 50 },
      { log: (l) => o.log.info(l) },
    );
    result.rfid = report.fid;
  }
  return result;
}

/** NCHW [-1, 1] → uint8 PNGs with the sampling conversion of models/tokenizer-images.ts. */
async function writePngs(batches: tf.Tensor4D[], dirs: string[], offset: number): Promise<void> {
  for (let k = 0; k < batches.length; k++) {
    const { pixels, count, height: H, width: W } = await toUint8Hwc(batches[k] as tf.Tensor4D);
    for (let i = 0; i < count; i++) {
      await sharp(pixels.subarray(i * H * W * 3, (i + 1) * H * W * 3), { raw: { width: W, height: H, channels: 3 } })
        .png()
        .toFile(path.join(dirs[k] as string, `${String(offset + i).padStart(6, '0')}.png`));
    }
  }
}
