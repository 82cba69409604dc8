/**
 * Streaming .npz writer: members are written piece by piece straight to disk, so a 50 000-image sample
 * batch (~10 GB of uint8 at 256 px) never has to sit in memory, and archives or members past 4 GiB get
 * zip64 records (what numpy.savez writes for large arrays; numpy.load and data/npz.ts read them).
 *
 * Uncompressed ("stored") members, DOS time 0, no comments: the same arrays always give the same bytes.
 * Each member's size is known up front from its shape; its CRC-32 is accumulated while writing and
 * patched into the local header when the member ends.
 */
import { open, type FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';
import { PipelineError } from '../core/errors';

/** The element types this writer emits (numpy descr per type). */
export type NpzWriteDtype = 'u1' | 'i4' | 'f4';
const DESCR: Record<NpzWriteDtype, string> = { u1: '|u1', i4: '<i4', f4: '<f4' };
const ITEM_BYTES: Record<NpzWriteDtype, number> = { u1: 1, i4: 4, f4: 4 };

const LOCAL_SIG = 0x04034b50;
const CENTRAL_SIG = 0x02014b50;
const EOCD_SIG = 0x06054b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const MAX32 = 0xffffffff;

export interface NpzWriterOptions {
  /** Write zip64 fields even where 32 bits would do (tests exercise the large-file layout with this). */
  forceZip64?: boolean;
}

interface Member {
  readonly name: Buffer;
  readonly offset: number;
  readonly size: number;
  readonly zip64: boolean;
  crc: number;
}

/** numpy .npy v1.0 header for a C-order array (padded so the data starts on a 64-byte boundary). */
export function npyHeader(dtype: NpzWriteDtype, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  dict += ' '.repeat((64 - ((10 + dict.length + 1) % 64)) % 64) + '\n';
  const out = Buffer.alloc(10 + dict.length);
  out.write('\x93NUMPY', 0, 'latin1');
  out[6] = 1;
  out[7] = 0;
  out.writeUInt16LE(dict.length, 8);
  out.write(dict, 10, 'latin1');
  return out;
}

export class NpzWriter {
  private pos = 0;
  private readonly members: Member[] = [];
  private current: { member: Member; remaining: number } | undefined;

  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly force: boolean,
  ) {}

  static async create(path: string, o: NpzWriterOptions = {}): Promise<NpzWriter> {
    return new NpzWriter(path, await open(path, 'w'), o.forceZip64 ?? false);
  }

  private async put(buf: Uint8Array, at?: number): Promise<void> {
    if (at !== undefined) {
      await this.fh.write(buf, 0, buf.length, at);
      return;
    }
    await this.fh.write(buf, 0, buf.length, this.pos);
    this.pos += buf.length;
  }

  /** Starts member `name`.npy holding a C-order array of `shape`; its element bytes follow through write(). */
  async begin(name: string, dtype: NpzWriteDtype, shape: readonly number[]): Promise<void> {
    if (this.current) throw new PipelineError('INTERNAL', `NpzWriter: member ${this.current.member.name.toString()} is still open`);
    const header = npyHeader(dtype, shape);
    const dataBytes = shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[dtype];
    const size = header.length + dataBytes;
    const zip64 = this.force || size >= MAX32;
    const fname = Buffer.from(`${name}.npy`, 'utf8');
    const member: Member = { name: fname, offset: this.pos, size, zip64, crc: 0 };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_SIG, 0);
    local.writeUInt16LE(zip64 ? 45 : 20, 4);
    local.writeUInt32LE(zip64 ? MAX32 : size, 18); // compressed size
    local.writeUInt32LE(zip64 ? MAX32 : size, 22); // uncompressed size
    local.writeUInt16LE(fname.length, 26);
    const extra = Buffer.alloc(zip64 ? 20 : 0);
    if (zip64) {
      extra.writeUInt16LE(0x0001, 0);
      extra.writeUInt16LE(16, 2);
      extra.writeBigUInt64LE(BigInt(size), 4);
      extra.writeBigUInt64LE(BigInt(size), 12);
    }
    local.writeUInt16LE(extra.length, 28);
    await this.put(Buffer.concat([local, fname, extra]));
    this.members.push(member);
    this.current = { member, remaining: dataBytes };
    await this.data(header, false);
  }

  /** Appends element bytes (C order) to the open member. */
  async write(bytes: Uint8Array): Promise<void> {
    await this.data(bytes, true);
  }

  private async data(bytes: Uint8Array, counted: boolean): Promise<void> {
    const cur = this.current;
    if (!cur) throw new PipelineError('INTERNAL', 'NpzWriter.write: no open member');
    if (counted) {
      if (bytes.length > cur.remaining)
        throw new PipelineError(
          'TENSOR_SHAPE',
          `NpzWriter: ${bytes.length} more bytes than member ${cur.member.name.toString()} holds (${cur.remaining} left)`,
        );
      cur.remaining -= bytes.length;
    }
    cur.member.crc = zlib.crc32(bytes, cur.member.crc);
    await this.put(bytes);
  }

  /** Ends the open member: all its bytes must have been written. */
  async end(): Promise<void> {
    const cur = this.current;
    if (!cur) throw new PipelineError('INTERNAL', 'NpzWriter.end: no open member');
    if (cur.remaining !== 0)
      throw new PipelineError('TENSOR_SHAPE', `NpzWriter: member ${cur.member.name.toString()} is ${cur.remaining} bytes short of its shape`);
    const crc = Buffer.alloc(4);
    crc.writeUInt32LE(cur.member.crc >>> 0, 0);
    await this.put(crc, cur.member.offset + 14);
    this.current = undefined;
  }

  /** A whole (small) array in one call. */
  async add(name: string, dtype: NpzWriteDtype, data: Uint8Array | Int32Array | Float32Array, shape: readonly number[]): Promise<void> {
    await this.begin(name, dtype, shape);
    await this.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    await this.end();
  }

  /** Closes the file without finishing it (after an error: the partial archive is not a valid .npz). */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }

  /** Writes the central directory (zip64 end records when needed) and closes the file. */
  async close(): Promise<void> {
    try {
      if (this.current) throw new PipelineError('INTERNAL', `NpzWriter.close: member ${this.current.member.name.toString()} is still open`);
      const cdStart = this.pos;
      const central: Buffer[] = [];
      for (const m of this.members) {
        const bigOffset = this.force || m.offset >= MAX32;
        const fields: number[] = [...(m.zip64 ? [m.size, m.size] : []), ...(bigOffset ? [m.offset] : [])];
        const extra = Buffer.alloc(fields.length ? 4 + 8 * fields.length : 0);
        if (fields.length) {
          extra.writeUInt16LE(0x0001, 0);
          extra.writeUInt16LE(8 * fields.length, 2);
          fields.forEach((v, i) => extra.writeBigUInt64LE(BigInt(v), 4 + 8 * i));
        }
        const cen = Buffer.alloc(46);
        cen.writeUInt32LE(CENTRAL_SIG, 0);
        cen.writeUInt16LE(fields.length ? 45 : 20, 4);
        cen.writeUInt16LE(fields.length ? 45 : 20, 6);
        cen.writeUInt32LE(m.crc >>> 0, 16);
        cen.writeUInt32LE(m.zip64 ? MAX32 : m.size, 20);
        cen.writeUInt32LE(m.zip64 ? MAX32 : m.size, 24);
        cen.writeUInt16LE(m.name.length, 28);
        cen.writeUInt16LE(extra.length, 30);
        cen.writeUInt32LE(bigOffset ? MAX32 : m.offset, 42);
        central.push(cen, m.name, extra);
      }
      const cd = Buffer.concat(central);
      await this.put(cd);
      const n = this.members.length;
      const zip64End = this.force || cdStart >= MAX32 || cd.length >= MAX32 || n >= 0xffff;
      if (zip64End) {
        const recAt = this.pos;
        const rec = Buffer.alloc(56);
        rec.writeUInt32LE(ZIP64_EOCD_SIG, 0);
        rec.writeBigUInt64LE(44n, 4); // size of the rest of this record
        rec.writeUInt16LE(45, 12);
        rec.writeUInt16LE(45, 14);
        rec.writeBigUInt64LE(BigInt(n), 24);
        rec.writeBigUInt64LE(BigInt(n), 32);
        rec.writeBigUInt64LE(BigInt(cd.length), 40);
        rec.writeBigUInt64LE(BigInt(cdStart), 48);
        const loc = Buffer.alloc(20);
        loc.writeUInt32LE(ZIP64_LOCATOR_SIG, 0);
        loc.writeBigUInt64LE(BigInt(recAt), 8);
        loc.writeUInt32LE(1, 16);
        await this.put(Buffer.concat([rec, loc]));
      }
      const eocd = Buffer.alloc(22);
      eocd.writeUInt32LE(EOCD_SIG, 0);
      eocd.writeUInt16LE(zip64End ? 0xffff : n, 8);
      eocd.writeUInt16LE(zip64End ? 0xffff : n, 10);
      eocd.writeUInt32LE(zip64End ? MAX32 : cd.length, 12);
      eocd.writeUInt32LE(zip64End ? MAX32 : cdStart, 16);
      await this.put(eocd);
    } finally {
      await this.fh.close();
    }
  }
}
