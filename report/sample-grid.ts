/**
 * Sample grids for the report: the first images of a samples output, tiled into one PNG.
 * An ADM `.npz` (arr_0 uint8 N×H×W×3) is read as a stream from its start and dropped after the
 * images needed — a 50 000-image batch costs a few hundred kB of reading, not 10 GB — and a folder
 * output contributes its first image files. Composition and encoding are sharp's.
 */
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import path from 'node:path';
import type Sharp from 'sharp';
import { blobKey } from '../artifacts/cas';
import type { FileEntry, OutputEntry } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';
import { parseNpyHeader } from '../data/npy';
import { IMAGE_EXTENSIONS } from '../data/image-extensions';

export const MAX_GRID_IMAGES = 64;
const GUTTER = 2;

export interface RgbTile {
  readonly width: number;
  readonly height: number;
  /** H×W×3 uint8. */
  readonly data: Uint8Array;
}

export interface SampleGrid {
  readonly png: Buffer;
  readonly width: number;
  readonly height: number;
  readonly images: number;
  /** Tile size of one image. */
  readonly tile: { readonly width: number; readonly height: number };
  readonly source: string;
}

/** Pulls exact byte counts from an async byte stream. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  async need(n: number): Promise<boolean> {
    while (this.buf.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done === true) this.done = true;
      else this.buf = Buffer.concat([this.buf, r.value]);
    }
    return this.buf.length >= n;
  }

  peek(n: number): Buffer {
    return this.buf.subarray(0, n);
  }

  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** What is buffered, then the rest of the stream. */
  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.buf.length > 0) yield this.take(this.buf.length);
    for (;;) {
      const r = await this.it.next();
      if (r.done === true) return;
      yield r.value;
    }
  }
}

const LOCAL_SIG = 0x04034b50;

/**
 * The first `max` images of an .npz whose first member is arr_0 (numpy.savez writes members in
 * argument order; generator.sample writes arr_0 first). Undefined when the archive is laid out
 * otherwise or arr_0 is not uint8 N×H×W×3.
 */
export async function npzFirstImages(stream: Readable, max: number): Promise<RgbTile[] | undefined> {
  const zip = new ByteReader(stream[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>);
  let inflated: Readable | undefined;
  try {
    if (!(await zip.need(30)) || zip.peek(30).readUInt32LE(0) !== LOCAL_SIG) return undefined;
    const head = zip.take(30);
    const method = head.readUInt16LE(8);
    const nameLen = head.readUInt16LE(26);
    const extraLen = head.readUInt16LE(28);
    if (!(await zip.need(nameLen + extraLen))) return undefined;
    const name = zip.take(nameLen).toString('utf8');
    zip.take(extraLen);
    if (name !== 'arr_0.npy' || (method !== 0 && method !== 8)) return undefined;
    let npy = zip;
    if (method === 8) {
      inflated = Readable.from(zip.rest()).pipe(zlib.createInflateRaw());
      npy = new ByteReader(inflated[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>);
    }
    if (!(await npy.need(12))) return undefined;
    const pre = npy.peek(12);
    const dataOffset = pre[6] === 1 ? 10 + pre.readUInt16LE(8) : 12 + pre.readUInt32LE(8);
    if (!(await npy.need(dataOffset))) return undefined;
    const header = parseNpyHeader(npy.take(dataOffset), 'samples arr_0');
    const [n, h, w, c] = header.shape;
    if (header.dtype !== 'u1' || header.fortranOrder || header.shape.length !== 4 || c !== 3 || n === undefined || h === undefined || w === undefined)
      return undefined;
    const count = Math.min(n, max);
    const tiles: RgbTile[] = [];
    for (let i = 0; i < count; i++) {
      if (!(await npy.need(h * w * 3))) break;
      tiles.push({ width: w, height: h, data: new Uint8Array(npy.take(h * w * 3)) });
    }
    return tiles;
  } finally {
    inflated?.destroy();
    stream.destroy();
  }
}

/**
 * sharp on first use: a report is written after every run, and most runs (every no-op re-run among them)
 * have no samples to draw; loading sharp costs them ~130 ms of CPU.
 */
function sharpLib(): typeof Sharp {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('sharp') as typeof Sharp;
}

/** Decodes image files to RGB tiles at the first one's size. */
export async function decodeTiles(files: readonly Buffer[]): Promise<RgbTile[]> {
  const sharp = sharpLib();
  const tiles: RgbTile[] = [];
  let size: { width: number; height: number } | undefined;
  for (const f of files) {
    const img = sharp(f).removeAlpha().toColourspace('srgb');
    const resized = size === undefined ? img : img.resize(size.width, size.height, { fit: 'fill', kernel: 'nearest' });
    const { data, info } = await resized.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) continue;
    size ??= { width: info.width, height: info.height };
    tiles.push({ width: info.width, height: info.height, data: new Uint8Array(data) });
  }
  return tiles;
}

/** Columns: one row for a few images, else about square, at most 8 across. */
export function gridColumns(n: number): number {
  if (n <= 8) return Math.max(1, n);
  return Math.min(8, Math.ceil(Math.sqrt(n)));
}

/** Tiles (all of the first one's size) into a PNG with white gutters. */
export async function composeGrid(tiles: readonly RgbTile[], source: string): Promise<SampleGrid | undefined> {
  const first = tiles[0];
  if (first === undefined) return undefined;
  const { width: tw, height: th } = first;
  const cols = gridColumns(tiles.length);
  const rows = Math.ceil(tiles.length / cols);
  const width = cols * tw + (cols + 1) * GUTTER;
  const height = rows * th + (rows + 1) * GUTTER;
  const canvas = new Uint8Array(width * height * 3).fill(255);
  tiles.forEach((t, i) => {
    if (t.width !== tw || t.height !== th) return;
    const x0 = GUTTER + (i % cols) * (tw + GUTTER);
    const y0 = GUTTER + Math.floor(i / cols) * (th + GUTTER);
    for (let y = 0; y < th; y++) canvas.set(t.data.subarray(y * tw * 3, (y + 1) * tw * 3), ((y0 + y) * width + x0) * 3);
  });
  const png = await sharpLib()(canvas, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return { png, width, height, images: tiles.length, tile: { width: tw, height: th }, source };
}

const isImageFile = (f: FileEntry) => IMAGE_EXTENSIONS.has(path.extname(f.path).toLowerCase());

/** The grid of a samples output (an .npz file or a folder holding images), or undefined when it holds none. */
export async function sampleGridOf(store: ArtifactStore, out: OutputEntry, label: string, max = MAX_GRID_IMAGES): Promise<SampleGrid | undefined> {
  if (out.type === 'file') {
    const tiles = await npzFirstImages(await store.get(blobKey(out.digest)), max);
    return tiles === undefined ? undefined : composeGrid(tiles, `${label} (first ${tiles.length} images of the .npz)`);
  }
  const files = out.files
    .filter(isImageFile)
    .sort((a, b) => a.path.localeCompare(b.path))
    .slice(0, max);
  if (files.length === 0) {
    // A folder output may hold its batch as an .npz (e.g. samples/samples.npz).
    const npz = out.files.find((f) => f.path.endsWith('.npz'));
    if (npz === undefined) return undefined;
    const tiles = await npzFirstImages(await store.get(blobKey(npz.digest)), max);
    return tiles === undefined ? undefined : composeGrid(tiles, `${label}/${npz.path} (first ${tiles.length} images)`);
  }
  const bytes = await Promise.all(files.map((f) => store.getBytes(blobKey(f.digest))));
  return composeGrid(await decodeTiles(bytes), `${label} (first ${files.length} image files)`);
}
