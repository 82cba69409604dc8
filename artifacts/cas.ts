/**
 * Content-addressed blobs: `cas/sha256/<2 hex>/<64 hex>`. A blob is uploaded once under a temporary
 * key while it is hashed, then moved to its digest's key — so no second read, and a crash mid-upload
 * leaves only garbage under tmp/, never a wrong blob under cas/.
 *
 * Bytes under a digest's key can still rot or be overwritten by hand. The upload therefore always
 * moves its fresh copy over the key (a size match proves nothing), and a reader that finds a blob
 * whose bytes do not hash to its key moves it aside to `quarantine/` — kept for inspection, out of
 * the way of the next upload — and says so.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PipelineError } from '../core/errors';
import type { Sha256Hex } from '../core/digest';
import { hashing, sha256OfStream } from './hashing';
import type { ArtifactStore, BodySource } from './store';

export interface Blob {
  readonly digest: Sha256Hex;
  readonly bytes: number;
}

/** A blob as recorded in a manifest (read back from JSON, so not yet a verified digest). */
export interface BlobRef {
  readonly digest: string;
  readonly bytes: number;
}

export function blobKey(digest: string): string {
  return `cas/sha256/${digest.slice(0, 2)}/${digest}`;
}

export async function putBlob(store: ArtifactStore, body: BodySource): Promise<Blob> {
  const tmp = `tmp/${randomUUID()}`;
  const ref = await store.put(tmp, body);
  // Replacing is atomic in both stores and the bytes are the same when the old copy is sound, so
  // readers never notice; when it was corrupt (even at the same size), this repairs it.
  await store.move(tmp, blobKey(ref.digest));
  return { digest: ref.digest, bytes: ref.bytes };
}

/**
 * Moves a blob whose bytes do not match its key to `quarantine/sha256/<digest>-<time>-<id>` and
 * returns that key (undefined when the move failed, e.g. another reader moved it first).
 */
export async function quarantineBlob(store: ArtifactStore, digest: string): Promise<string | undefined> {
  const to = `quarantine/sha256/${digest}-${new Date().toISOString().replace(/[:.]/g, '')}-${randomUUID().slice(0, 8)}`;
  try {
    await store.move(blobKey(digest), to);
    return to;
  } catch {
    return undefined;
  }
}

const movedTo = (q: string | undefined) => (q === undefined ? '' : `; moved aside to ${q} so the next upload writes a good copy`);

/** Streams a blob; the returned stream errors with DIGEST_MISMATCH at its end if the content is not what its key says. */
export async function getBlob(store: ArtifactStore, blob: BlobRef): Promise<Readable> {
  const h = hashing(await store.get(blobKey(blob.digest)));
  const out = h.stream;
  out.on('end', () => {
    const got = h.result();
    if (got.digest !== blob.digest || got.bytes !== blob.bytes) {
      out.destroy(corrupt(store, blob, got));
      // Out of the way of the producer's rerun; errors are moot (the read fails either way).
      void quarantineBlob(store, blob.digest);
    }
  });
  return out;
}

/**
 * Re-reads a blob and checks its digest (used before trusting a cache entry). A blob whose bytes
 * do not hash to its key is quarantined; the returned problem says so.
 */
export async function verifyBlob(store: ArtifactStore, blob: BlobRef): Promise<string | undefined> {
  const st = await store.stat(blobKey(blob.digest));
  if (st === undefined) return `blob ${blob.digest} is missing`;
  const got = await sha256OfStream(await store.get(blobKey(blob.digest)));
  if (got.digest === blob.digest && got.bytes === blob.bytes) return undefined;
  // A blob's key is its digest: content that hashes to something else is wrong for every manifest naming it.
  const what = got.digest === blob.digest ? `has ${got.bytes} B, expected ${blob.bytes} B` : `now hashes to ${got.digest} (${got.bytes} B)`;
  return `blob ${blob.digest} ${what}${movedTo(got.digest === blob.digest ? undefined : await quarantineBlob(store, blob.digest))}`;
}

function corrupt(store: ArtifactStore, blob: BlobRef, got: Blob): PipelineError {
  return new PipelineError(
    'DIGEST_MISMATCH',
    `stored blob ${blob.digest} in ${store.uri} reads as sha256 ${got.digest} (${got.bytes} B): it is corrupt and is being moved aside to quarantine/; rerun so the producing stage recomputes it`,
  );
}

/** A blob's bytes, digest-checked like getBlob (small blobs: metrics, logs, manifests' files in tests). */
export async function getBlobBytes(store: ArtifactStore, blob: BlobRef): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await getBlob(store, blob)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
