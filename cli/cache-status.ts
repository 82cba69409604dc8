/**
 * What `plan` and `explain` show: for each stage run, in plan order, its cache key (when its
 * inputs' digests are known from cached producers) and whether the store already holds it
 * (`cached`), an attempt is working on it (`running`), or it `will run`.
 * Entries are checked by manifest only (no re-hash); `run` verifies digests before trusting one.
 */
import { lookupManifest, type OutputEntry } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';
import { cacheKey, keyMaterial } from '../plan';
import { liveAttempts } from '../artifacts/liveness';
import type { CacheKeyMaterial, Plan, StageRun } from '../plan/types';

export type RunStatus =
  | { readonly state: 'cached'; readonly key: string; readonly material: CacheKeyMaterial }
  /** An attempt is working on this key right now (a fresh liveness marker). */
  | { readonly state: 'running'; readonly key: string; readonly material: CacheKeyMaterial; readonly why: string }
  | { readonly state: 'will run'; readonly key: string; readonly material: CacheKeyMaterial; readonly why: string }
  /** An input is produced by a run that has not happened yet, so the key is not known. */
  | { readonly state: 'will run'; readonly key: undefined; readonly material: undefined; readonly why: string };

export async function cacheStatus(plan: Plan, store: ArtifactStore): Promise<Map<string, RunStatus>> {
  const outputs = new Map<string, Readonly<Record<string, OutputEntry>>>();
  const status = new Map<string, RunStatus>();
  for (const run of plan.runs) status.set(run.id, await statusOf(run, outputs, store));
  return status;
}

async function statusOf(run: StageRun, outputs: Map<string, Readonly<Record<string, OutputEntry>>>, store: ArtifactStore): Promise<RunStatus> {
  const inputDigests: Record<string, string> = {};
  for (const [name, ref] of Object.entries(run.inputs)) {
    const digest = outputs.get(ref.run)?.[ref.output]?.digest;
    if (digest === undefined)
      return { state: 'will run', key: undefined, material: undefined, why: `input '${name}' comes from ${ref.run}, which will run first` };
    inputDigests[name] = digest;
  }
  const material = keyMaterial(run, inputDigests);
  const key = cacheKey(material);
  if (!run.deterministic) return { state: 'will run', key, material, why: 'deterministic: false (never served from cache)' };
  const found = await lookupManifest(store, key, { verify: false });
  if (found.state === 'hit') {
    outputs.set(run.id, found.manifest.outputs);
    return { state: 'cached', key, material };
  }
  const live = await liveAttempts(store, key);
  if (live.length > 0) {
    return { state: 'running', key, material, why: live.map((m) => `attempt ${m.attempt} on ${m.worker}`).join(', ') };
  }
  return { state: 'will run', key, material, why: found.state === 'corrupt' ? `cache entry unusable: ${found.reason}` : 'no cache entry with this key' };
}
