/**
 * Image folders for evaluation: lists decodable images (sorted, recursive) and decodes them to
 * 8-bit RGB (NHWC bytes) with sharp. Alpha is dropped and grayscale/CMYK are converted to sRGB,
 * so every image yields H×W×3 values, as the ADM sample batches hold.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { PipelineError } from '../core/errors';
import { IMAGE_EXTENSIONS } from './image-extensions';

export { IMAGE_EXTENSIONS };

/**
 * Symbolic links are followed, as torchvision's ImageFolder does (ImageNet trees are often links into
 * shared storage); a directory reached twice through links (a cycle) is walked once.
 */
export async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const walk = async (d: string) => {
    const real = await realpath(d);
    if (seen.has(real)) return;
    seen.add(real);
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      const st = ent.isSymbolicLink() ? await stat(p).catch(() => undefined) : ent; // a dangling link is skipped
      if (st?.isDirectory()) await walk(p);
      else if (st?.isFile() && IMAGE_EXTENSIONS.has(path.extname(ent.name).toLowerCase())) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

export interface RgbImage {
  readonly data: Uint8Array;
  readonly height: number;
  readonly width: number;
}

export async function decodeRgb(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file).toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), height: info.height, width: info.width };
  } catch (e) {
    throw new PipelineError('DATA_CORRUPT', `${file}: cannot decode the image (${(e as Error).message}); remove or re-encode it`, { cause: e });
  }
}
