/**
 * The manifest of one stage run: what it produced (content digests), how, and when. It is written
 * LAST, after every output blob is stored, so its presence is the commit point of a cache entry:
 * a crash before it leaves a miss, never a half entry.
 *
 *   runs/<cacheKey>/manifest.json
 */
import type { Json } from '../core/canonical-json';
import { errorMessage } from '../core/errors';
import type { CacheKeyMaterial } from '../plan/types';
import type { AttemptLogRef } from './attempt-logs';
import { verifyBlob, type BlobRef } from './cas';
import { entryProblem } from './entry-check';
import type { ArtifactStore } from './store';

export const MANIFEST_SCHEMA = 'robustok.dev/manifest/v1';

export interface FileEntry extends BlobRef {
  readonly path: string;
}

export type OutputEntry =
  /** `fileName`: the producer's file name; consumers get the same extension (readers sniff by it). */
  | { readonly type: 'file'; readonly digest: string; readonly bytes: number; readonly fileName?: string }
  /** A directory: its digest is sha256 of the canonical JSON of its sorted file list. */
  | { readonly type: 'dir'; readonly digest: string; readonly bytes: number; readonly files: readonly FileEntry[] };

export interface Manifest {
  readonly schema: typeof MANIFEST_SCHEMA;
  readonly key: string;
  readonly stage: { readonly id: string; readonly kind: string; readonly version: string };
  readonly material: CacheKeyMaterial;
  readonly outputs: Readonly<Record<string, OutputEntry>>;
  readonly metrics: Readonly<Record<string, Json>>;
  readonly attempt: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  /** Which program produced it: package version + lockfile digest. */
  readonly codeVersion: string;
  readonly host: string;
  readonly backend?: Json;
  /** The producing attempt's log (artifacts/attempt-logs.ts). */
  readonly log?: AttemptLogRef;
}

export const manifestKey = (key: string) => `runs/${key}/manifest.json`;

export type ManifestLookup =
  | { readonly state: 'hit'; readonly manifest: Manifest }
  | { readonly state: 'miss' }
  /** Present but unusable (unparsable, or an output blob missing/corrupt): treated as a miss. */
  | { readonly state: 'corrupt'; readonly reason: string };

export async function lookupManifest(store: ArtifactStore, key: string, opts: { verify: boolean }): Promise<ManifestLookup> {
  if ((await store.stat(manifestKey(key))) === undefined) return { state: 'miss' };
  let manifest: Manifest;
  try {
    manifest = JSON.parse((await store.getBytes(manifestKey(key))).toString('utf8')) as Manifest;
    if (manifest.schema !== MANIFEST_SCHEMA || manifest.key !== key)
      return { state: 'corrupt', reason: `manifest ${manifestKey(key)} has schema ${String(manifest.schema)} / key ${String(manifest.key)}` };
    if (typeof manifest.outputs !== 'object' || manifest.outputs === null)
      return { state: 'corrupt', reason: `manifest ${manifestKey(key)} has no outputs object` };
    // Checked on every lookup (cheap, no store reads): an unsafe entry must never be served, verified or not.
    for (const [name, out] of Object.entries(manifest.outputs)) {
      const problem = entryProblem(out);
      if (problem !== undefined) return { state: 'corrupt', reason: `manifest ${manifestKey(key)}, output '${name}': ${problem}` };
    }
  } catch (e) {
    return { state: 'corrupt', reason: `manifest ${manifestKey(key)} is not valid JSON: ${errorMessage(e)}` };
  }
  if (opts.verify) {
    for (const [name, out] of Object.entries(manifest.outputs)) {
      const blobs: readonly BlobRef[] = out.type === 'file' ? [out] : out.files;
      for (const b of blobs) {
        const problem = await verifyBlob(store, b);
        if (problem !== undefined) return { state: 'corrupt', reason: `output '${name}': ${problem}` };
      }
    }
  }
  return { state: 'hit', manifest };
}

export async function writeManifest(store: ArtifactStore, manifest: Manifest): Promise<void> {
  await store.put(manifestKey(manifest.key), `${JSON.stringify(manifest, null, 2)}\n`);
}
