/**
 * Content-addressed blobs: `cas/sha256/<2 hex>/<64 hex>`. A blob is uploaded once under a temporary
 * key while it is hashed, then moved to its digest's key — so no second read, and a crash mid-upload
 * leaves only garbage under tmp/, never a wrong blob under cas/.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { PipelineError } from '../core/errors';
import type { Sha256Hex } from '../core/digest';
import { hashing, sha256OfStream } from './hashing';
import type { ArtifactStore, Body } from './store';

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

export async function putBlob(store: ArtifactStore, body: Body): Promise<Blob> {
  const tmp = `tmp/${randomUUID()}`;
  const ref = await store.put(tmp, body);
  const existing = await store.stat(blobKey(ref.digest));
  if (existing !== undefined && existing.bytes === ref.bytes) await store.delete(tmp);
  else await store.move(tmp, blobKey(ref.digest));
  return { digest: ref.digest, bytes: ref.bytes };
}

/** Streams a blob; the returned stream errors with DIGEST_MISMATCH at its end if the content is not what its key says. */
export async function getBlob(store: ArtifactStore, blob: BlobRef): Promise<Readable> {
  const h = hashing(await store.get(blobKey(blob.digest)));
  const out = h.stream;
  out.on('end', () => {
    const got = h.result();
    if (got.digest !== blob.digest || got.bytes !== blob.bytes) {
      out.destroy(corrupt(store, blob, got));
    }
  });
  return out;
}

/** Re-reads a blob and checks its digest (used before trusting a cache entry). */
export async function verifyBlob(store: ArtifactStore, blob: BlobRef): Promise<string | undefined> {
  const st = await store.stat(blobKey(blob.digest));
  if (st === undefined) return `blob ${blob.digest} is missing`;
  if (st.bytes !== blob.bytes) return `blob ${blob.digest} has ${st.bytes} B, expected ${blob.bytes} B`;
  const got = await sha256OfStream(await store.get(blobKey(blob.digest)));
  return got.digest === blob.digest ? undefined : `blob ${blob.digest} now hashes to ${got.digest}`;
}

function corrupt(store: ArtifactStore, blob: BlobRef, got: Blob): PipelineError {
  return new PipelineError('DIGEST_MISMATCH', `stored blob ${blob.digest} in ${store.uri} reads as sha256 ${got.digest} (${got.bytes} B): the store is corrupt; delete the entry so the producing stage reruns`);
}
