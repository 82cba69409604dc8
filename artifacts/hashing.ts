/** Streams a body through sha256 while counting bytes, so uploads never read data twice. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { Sha256Hex } from '../core/digest';
import type { Body } from './store';

export interface HashingStream {
  readonly stream: Readable;
  /** Valid once the stream has ended. */
  result(): { digest: Sha256Hex; bytes: number };
}

export function toReadable(body: Body): Readable {
  if (typeof body === 'string') return Readable.from([Buffer.from(body, 'utf8')]);
  if (body instanceof Uint8Array) return Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)]);
  return body;
}

export function hashing(body: Body): HashingStream {
  const hash = createHash('sha256');
  let bytes = 0;
  let digest: Sha256Hex | undefined;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
    flush(done) {
      digest = hash.digest('hex') as Sha256Hex;
      done();
    },
  });
  const source = toReadable(body);
  source.on('error', (e) => tap.destroy(e));
  return {
    stream: source.pipe(tap),
    result() {
      if (digest === undefined) throw new Error('hashing stream read before it ended');
      return { digest, bytes };
    },
  };
}

export async function sha256OfStream(stream: Readable): Promise<{ digest: Sha256Hex; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    hash.update(b);
    bytes += b.length;
  }
  return { digest: hash.digest('hex') as Sha256Hex, bytes };
}

/** sha256 (hex) of a local file, streamed (weights, reference batches, imported files). */
export async function sha256File(file: string): Promise<string> {
  return (await sha256OfStream(createReadStream(file))).digest;
}
