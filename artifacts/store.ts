/**
 * ArtifactStore: the one interface over blob storage (a local directory or MinIO/S3).
 * Keys are '/'-separated relative paths. Every write streams and hashes at once,
 * and becomes visible atomically: a reader sees the whole object or nothing.
 */
import type { Readable } from 'node:stream';
import type { Sha256Hex } from '../core/digest';

/** What a completed write returns: small enough to cross Temporal. */
export interface ArtifactRef {
  readonly key: string;
  readonly digest: Sha256Hex;
  readonly bytes: number;
}

export interface ObjectStat {
  readonly key: string;
  readonly bytes: number;
  /** Last write (ms since epoch) when the store knows it; `robustok gc` spares objects written during a live attempt. */
  readonly modifiedMs?: number;
}

export type Body = Readable | Uint8Array | string;
/** A body, or a function producing it afresh: only the latter lets a store retry a streamed write. */
export type BodySource = Body | (() => Body);

export interface ArtifactStore {
  /** A URI that names this store (credentials never included), e.g. file:///x or s3://bucket/prefix. */
  readonly uri: string;
  /** Writes `body` at `key`, hashing while streaming; replaces any previous object atomically. */
  put(key: string, body: BodySource): Promise<ArtifactRef>;
  /** Streams the object. Throws PipelineError ARTIFACT_MISSING when absent. */
  get(key: string): Promise<Readable>;
  /** Reads a whole (small) object. Throws ARTIFACT_MISSING when absent. */
  getBytes(key: string): Promise<Buffer>;
  /** Size of the object, or undefined when absent. */
  stat(key: string): Promise<ObjectStat | undefined>;
  /** Every key under a prefix (recursive), sorted. */
  list(prefix: string): Promise<string[]>;
  /** Removes the object; absent keys are not an error. */
  delete(key: string): Promise<void>;
  /** Moves an object to another key in the same store (rename on disk, server-side copy on S3). */
  move(fromKey: string, toKey: string): Promise<void>;
}

/** Rejects keys that could escape the store root or that S3 would treat differently from a directory. */
export function checkKey(key: string): string {
  if (key.length === 0 || key.startsWith('/') || key.endsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new TypeError(`invalid artifact key '${key}': use a relative path without '.', '..' or empty parts`);
  }
  return key;
}
