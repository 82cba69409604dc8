/**
 * NumPy .npz archives (zip of .npy members, as numpy.savez / savez_compressed write them).
 * Reading streams each member (stored or deflated, zip64 included) so a 50 000-image sample batch
 * (~10 GB of uint8) is processed in row batches without holding it in memory; every member's
 * CRC-32 is checked once it has been read to the end, so a damaged file never yields numbers.
 */
import { Readable } from 'node:stream';
import { open, writeFile, type FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';
import { PipelineError } from '../core/errors';
import { decodeElements, encodeNpy, parseNpyHeader, type NpyArray, type NpyData, type NpyHeader } from './npy';

interface ZipEntry {
  readonly fileName: string;
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly localHeaderOffset: number;
}

function corrupt(source: string, problem: string): PipelineError {
  return new PipelineError('DATA_CORRUPT', `${source}: ${problem}; the file is damaged or not an .npz: regenerate it with numpy.savez`);
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const CHUNK = 8 << 20;

export class NpzReader {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly fileSize: number,
    private readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  /** Opens an .npz and reads its central directory. */
  static async open(path: string): Promise<NpzReader> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new PipelineError('INPUT_MISSING', `${path}: cannot open (${(e as Error).message}); check the path`, { cause: e });
    }
    try {
      const size = (await fh.stat()).size;
      const entries = await readCentralDirectory(fh, size, path);
      return new NpzReader(path, fh, size, entries);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  /** Array names (member names without the .npy suffix), in archive order. */
  get keys(): string[] {
    return [...this.entries.keys()];
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  private entry(key: string): ZipEntry {
    const e = this.entries.get(key);
    if (!e) throw new PipelineError('DATA_CORRUPT', `${this.path}: no array '${key}' in the archive (it holds: ${this.keys.join(', ') || 'nothing'})`);
    return e;
  }

  /** Streams a member's uncompressed bytes; verifies its length and CRC-32 at the end. */
  private async *chunks(key: string): AsyncGenerator<Uint8Array> {
    const e = this.entry(key);
    const src = `${this.path} (array '${key}')`;
    const local = Buffer.alloc(30);
    const { bytesRead } = await this.fh.read(local, 0, 30, e.localHeaderOffset);
    if (bytesRead < 30 || local.readUInt32LE(0) !== LOCAL_SIG) throw corrupt(src, 'bad local file header');
    const start = e.localHeaderOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    if (start + e.compressedSize > this.fileSize) {
      throw corrupt(src, `truncated: the member needs bytes up to ${start + e.compressedSize} but the file has ${this.fileSize}`);
    }
    let crc = 0;
    let total = 0;
    if (e.method === 0) {
      for await (const buf of this.rawBytes(start, e.compressedSize, src)) {
        total += buf.length;
        crc = zlib.crc32(buf, crc);
        yield buf;
      }
    } else if (e.method === 8) {
      if (e.compressedSize === 0) throw corrupt(src, 'empty deflated member');
      // Compressed bytes come from our own positional reads so the shared file handle stays ours.
      const raw = Readable.from(this.rawBytes(start, e.compressedSize, src));
      const stream = raw.pipe(zlib.createInflateRaw());
      raw.on('error', (err) => stream.destroy(err));
      try {
        for await (const chunk of stream) {
          const buf = chunk as Buffer;
          total += buf.length;
          crc = zlib.crc32(buf, crc);
          yield buf;
        }
      } catch (err) {
        throw new PipelineError('DATA_CORRUPT', `${src}: cannot inflate (${(err as Error).message}); regenerate the file with numpy.savez`, { cause: err });
      } finally {
        raw.destroy();
        stream.destroy();
      }
    } else {
      throw corrupt(src, `unsupported zip compression method ${e.method} (only stored and deflate are)`);
    }
    if (total !== e.uncompressedSize) throw corrupt(src, `member has ${total} bytes, the directory says ${e.uncompressedSize}`);
    if (crc >>> 0 !== e.crc32 >>> 0) throw corrupt(src, 'CRC-32 mismatch');
  }

  private async *rawBytes(start: number, length: number, src: string): AsyncGenerator<Buffer> {
    for (let pos = 0; pos < length;) {
      const n = Math.min(CHUNK, length - pos);
      const buf = Buffer.allocUnsafe(n);
      const r = await this.fh.read(buf, 0, n, start + pos);
      if (r.bytesRead !== n) throw corrupt(src, 'truncated member data');
      pos += n;
      yield buf;
    }
  }

  /** The .npy header of a member (reads only its first bytes). */
  async header(key: string): Promise<NpyHeader> {
    const it = this.chunks(key);
    try {
      let buf: Uint8Array = new Uint8Array(0);
      for await (const c of it) {
        buf = concat(buf, c);
        const h = tryHeader(buf, `${this.path} (array '${key}')`);
        if (h) return h;
      }
      throw corrupt(`${this.path} (array '${key}')`, 'member too short to hold an .npy header');
    } finally {
      await it.return(undefined);
    }
  }

  /** Reads a whole member into memory (use rows() for large image batches). */
  async read(key: string): Promise<NpyArray> {
    const e = this.entry(key);
    if (e.uncompressedSize > 2 ** 31) {
      throw new PipelineError(
        'CONFIG_INVALID',
        `${this.path}: array '${key}' is ${e.uncompressedSize} bytes, too large to read at once; stream it with rows()`,
      );
    }
    const all = Buffer.allocUnsafe(e.uncompressedSize);
    let off = 0;
    for await (const c of this.chunks(key)) {
      all.set(c, off);
      off += c.length;
    }
    const src = `${this.path} (array '${key}')`;
    const h = parseNpyHeader(all, src);
    const need = h.dataOffset + h.size * h.itemSize;
    if (all.length < need) throw corrupt(src, `data shorter than shape (${h.shape.join(', ')}) of ${h.dtype} requires`);
    const data = decodeElements(h.dtype, all.subarray(h.dataOffset), h.size);
    if (h.fortranOrder && h.shape.length > 1) throw corrupt(src, 'Fortran-order arrays are not supported inside .npz');
    return { dtype: h.dtype, shape: h.shape, data };
  }

  /**
   * Streams a C-order member along its first axis, `batchRows` rows at a time (the last batch may
   * be shorter). The CRC is verified after the last batch, so consumers must finish the iteration
   * before trusting aggregate results.
   */
  async *rows(key: string, batchRows: number): AsyncGenerator<{ start: number; count: number; header: NpyHeader; data: NpyData }> {
    const src = `${this.path} (array '${key}')`;
    let header: NpyHeader | undefined;
    let pending: Uint8Array = new Uint8Array(0);
    let row = 0;
    let rowBytes = 0;
    for await (const c of this.chunks(key)) {
      pending = concat(pending, c);
      if (!header) {
        header = tryHeader(pending, src);
        if (!header) continue;
        if (header.fortranOrder && header.shape.length > 1) throw corrupt(src, 'Fortran-order arrays are not supported inside .npz');
        if (header.shape.length === 0) throw corrupt(src, 'scalar array has no rows');
        rowBytes = (header.size / Math.max(1, header.shape[0] ?? 1)) * header.itemSize;
        pending = pending.subarray(header.dataOffset);
      }
      const nRows = header.shape[0] ?? 0;
      while (row < nRows && pending.length >= Math.min(batchRows, nRows - row) * rowBytes) {
        const count = Math.min(batchRows, nRows - row);
        const data = decodeElements(header.dtype, pending, count * (rowBytes / header.itemSize));
        pending = pending.subarray(count * rowBytes);
        yield { start: row, count, header, data };
        row += count;
      }
    }
    if (!header) throw corrupt(src, 'member too short to hold an .npy header');
    if (row < (header.shape[0] ?? 0)) throw corrupt(src, `truncated: got ${row} of ${header.shape[0]} rows`);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function tryHeader(buf: Uint8Array, source: string): NpyHeader | undefined {
  if (buf.length < 12) return undefined;
  const major = buf[6];
  const len = major === 1 ? buf[8]! | (buf[9]! << 8) : new DataView(buf.buffer, buf.byteOffset).getUint32(8, true);
  const need = (major === 1 ? 10 : 12) + len;
  if (buf[0] === 0x93 && buf.length < need) return undefined;
  return parseNpyHeader(buf, source);
}

async function readCentralDirectory(fh: FileHandle, size: number, path: string): Promise<Map<string, ZipEntry>> {
  const tailLen = Math.min(size, 65535 + 22 + 20);
  const tail = Buffer.alloc(tailLen);
  await fh.read(tail, 0, tailLen, size - tailLen);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw corrupt(path, 'no zip end-of-central-directory record (truncated or not a zip file)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if ((count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) && eocd >= 20 && tail.readUInt32LE(eocd - 20) === ZIP64_LOCATOR_SIG) {
    const z64Offset = Number(tail.readBigUInt64LE(eocd - 20 + 8));
    const rec = Buffer.alloc(56);
    await fh.read(rec, 0, 56, z64Offset);
    if (rec.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw corrupt(path, 'bad zip64 end-of-central-directory record');
    count = Number(rec.readBigUInt64LE(32));
    cdSize = Number(rec.readBigUInt64LE(40));
    cdOffset = Number(rec.readBigUInt64LE(48));
  }
  if (cdOffset + cdSize > size) throw corrupt(path, 'central directory lies beyond the end of the file (truncated)');
  const cd = Buffer.alloc(cdSize);
  await fh.read(cd, 0, cdSize, cdOffset);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL_SIG) throw corrupt(path, 'bad central directory entry');
    const method = cd.readUInt16LE(p + 10);
    const crc32 = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let uncompressedSize = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    const fileName = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // Zip64 extended information: present fields replace the 0xFFFFFFFF placeholders, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (uncompressedSize === 0xffffffff) {
          uncompressedSize = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = Number(cd.readBigUInt64LE(q));
      }
      x += 4 + len;
    }
    p = xEnd + commentLen;
    if (!fileName.endsWith('/')) entries.set(fileName.replace(/\.npy$/, ''), { fileName, method, crc32, compressedSize, uncompressedSize, localHeaderOffset });
  }
  return entries;
}

/** An array to write: C-order data plus its shape. */
export interface NpzMember {
  readonly data: NpyData;
  readonly shape: readonly number[];
}

/** Encodes arrays as an uncompressed .npz (what numpy.savez writes). Members must stay below 4 GiB. */
export function encodeNpz(arrays: Readonly<Record<string, NpzMember>>): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  const names = Object.keys(arrays);
  for (const name of names) {
    const m = arrays[name];
    if (!m) continue;
    const body = Buffer.from(encodeNpy(m.data, m.shape));
    if (body.length >= 0xffffffff)
      throw new PipelineError('CONFIG_INVALID', `encodeNpz: array '${name}' is ${body.length} bytes; members over 4 GiB are not supported here`);
    const fname = Buffer.from(`${name}.npy`, 'utf8');
    const crc = zlib.crc32(body) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_SIG, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(body.length, 22);
    local.writeUInt16LE(fname.length, 26);
    const cen = Buffer.alloc(46);
    cen.writeUInt32LE(CENTRAL_SIG, 0);
    cen.writeUInt16LE(20, 4);
    cen.writeUInt16LE(20, 6);
    cen.writeUInt32LE(crc, 16);
    cen.writeUInt32LE(body.length, 20);
    cen.writeUInt32LE(body.length, 24);
    cen.writeUInt16LE(fname.length, 28);
    cen.writeUInt32LE(offset, 42);
    parts.push(local, fname, body);
    central.push(cen, fname);
    offset += local.length + fname.length + body.length;
  }
  const cdSize = central.reduce((a, b) => a + b.length, 0);
  if (offset >= 0xffffffff) throw new PipelineError('CONFIG_INVALID', 'encodeNpz: archive over 4 GiB is not supported here');
  const end = Buffer.alloc(22);
  end.writeUInt32LE(EOCD_SIG, 0);
  end.writeUInt16LE(names.length, 8);
  end.writeUInt16LE(names.length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}

export async function writeNpz(path: string, arrays: Readonly<Record<string, NpzMember>>): Promise<void> {
  await writeFile(path, encodeNpz(arrays));
}

/** Reads every member of a (small) .npz into memory. */
export async function readNpz(path: string): Promise<Record<string, NpyArray>> {
  const r = await NpzReader.open(path);
  try {
    const out: Record<string, NpyArray> = {};
    for (const k of r.keys) out[k] = await r.read(k);
    return out;
  } finally {
    await r.close();
  }
}
