/**
 * torchvision `ImageFolder` semantics over a directory: every immediate subfolder is a class, the
 * sorted folder names get indices 0..C−1, and each class's images (any depth below its folder,
 * extensions as data/images.ts) are listed in sorted path order. Samples are ordered by class, then
 * path, so a sample index means the same file on every host.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PipelineError } from '../core/errors';
import { decodeRgb, listImages, type RgbImage } from './images';

export interface ImageFolderSample {
  readonly path: string;
  readonly label: number;
}

export interface ImageFolder {
  readonly root: string;
  readonly classNames: readonly string[];
  readonly samples: readonly ImageFolderSample[];
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export async function openImageFolder(root: string): Promise<ImageFolder> {
  const st = await stat(root).catch(() => undefined);
  if (!st?.isDirectory()) {
    throw new PipelineError(
      'INPUT_MISSING',
      `dataset directory ${root} does not exist or is not a directory: point the stage's dataset input at an ImageFolder root (one subfolder per class)`,
    );
  }
  const entries = await readdir(root, { withFileTypes: true });
  // Class folders may be symbolic links (followed, as torchvision does).
  const isDir = async (e: (typeof entries)[number]) =>
    e.isDirectory() || (e.isSymbolicLink() && (await stat(path.join(root, e.name)).catch(() => undefined))?.isDirectory() === true);
  const dirs = await Promise.all(entries.map(async (e) => ((await isDir(e)) && !e.name.startsWith('.') ? e.name : undefined)));
  const classNames = dirs.filter((n): n is string => n !== undefined).sort(byCodeUnit);
  if (classNames.length === 0) {
    throw new PipelineError(
      'INPUT_MISSING',
      `dataset directory ${root} has no class subfolders: an ImageFolder root holds one subfolder per class (${root}/<class>/<image>.png)`,
    );
  }
  const samples: ImageFolderSample[] = [];
  for (const [label, name] of classNames.entries()) {
    for (const file of await listImages(path.join(root, name))) samples.push({ path: file, label });
  }
  if (samples.length === 0) {
    throw new PipelineError(
      'INPUT_MISSING',
      `dataset directory ${root} has class folders (${classNames.slice(0, 3).join(', ')}${classNames.length > 3 ? ', …' : ''}) but no images in them (extensions .png .jpg .jpeg .webp .tif .tiff .gif .avif)`,
    );
  }
  return { root, classNames, samples };
}

/**
 * Decodes one sample to RGB. A corrupt file is a DATA_CORRUPT error naming it; with `skipCorrupt`
 * the caller gets undefined instead, after a warning through `log`.
 *
 * Against Pillow's `Image.open(f).convert('RGB')` (torchvision's loader): RGB and grayscale JPEG/PNG
 * decode to identical bytes; CMYK JPEGs (22 of ImageNet's 1.28M training files) do not, because
 * libvips converts through ICC profiles where Pillow uses a plain formula (measured mean 22 levels apart).
 */
export async function decodeSample(file: string, opts: { skipCorrupt?: boolean; log?: (m: string) => void } = {}): Promise<RgbImage | undefined> {
  try {
    return await decodeRgb(file);
  } catch (e) {
    if (!opts.skipCorrupt) {
      throw new PipelineError('DATA_CORRUPT', `${(e as Error).message} (or set skipCorrupt: true to skip unreadable images with a warning)`, { cause: e });
    }
    opts.log?.(`warning: skipping corrupt image ${file}: ${(e as Error).message}`);
    return undefined;
  }
}
