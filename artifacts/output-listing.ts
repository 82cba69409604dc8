/**
 * Directory outputs cross Temporal with their file list inline only while it is short; longer lists
 * stay in the producer's manifest and travel as a DirListingRef (see stage-contract.ts).
 */
import { lookupManifest, type OutputEntry } from './manifest';
import type { ArtifactStore } from './store';
import { PipelineError } from '../core/errors';
import type { DirListingRef, OutputRef } from '../activities/stage-contract';

/** Above this many files a directory's list is passed by reference (~150 KB inline at most). */
export const INLINE_FILES_MAX = 1000;

/** The outputs of the entry `key` as they may cross Temporal. */
export function slimOutputs(key: string, outputs: Readonly<Record<string, OutputEntry>>, max = INLINE_FILES_MAX): Record<string, OutputRef> {
  const out: Record<string, OutputRef> = {};
  for (const [name, e] of Object.entries(outputs)) {
    out[name] =
      e.type === 'dir' && e.files.length > max
        ? ({ type: 'dir', digest: e.digest, bytes: e.bytes, fileCount: e.files.length, listing: { key, output: name } } satisfies DirListingRef)
        : e;
  }
  return out;
}

/** The full entry of a reference: inline as it is, or the file list read back from the producer's manifest. */
export async function fullEntry(store: ArtifactStore, ref: OutputRef, where: string): Promise<OutputEntry> {
  if (!('listing' in ref)) return ref;
  const found = await lookupManifest(store, ref.listing.key, { verify: false });
  const entry = found.state === 'hit' ? found.manifest.outputs[ref.listing.output] : undefined;
  if (entry === undefined) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${where}: its file list (runs/${ref.listing.key}/manifest.json, output '${ref.listing.output}') is ${found.state === 'corrupt' ? `unusable (${found.reason})` : 'gone'}; re-run the producing stage (robustok resume)`,
    );
  }
  if (entry.digest !== ref.digest || entry.type !== 'dir')
    throw new PipelineError(
      'DIGEST_MISMATCH',
      `${where}: the manifest's entry has digest ${entry.digest.slice(0, 12)}…, the run expected ${ref.digest.slice(0, 12)}…`,
    );
  return entry;
}
