/**
 * Image folders for evaluation: lists decodable images (sorted, recursive) and decodes them to
 * 8-bit RGB (NHWC bytes) with sharp. Alpha is dropped and grayscale/CMYK are converted to sRGB,
 * so every image yields H×W×3 values, as the ADM sample batches hold.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { PipelineError } from '../core/errors';

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif']);

export async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile() && IMAGE_EXTENSIONS.has(path.extname(ent.name).toLowerCase())) out.push(p);
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
