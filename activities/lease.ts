/**
 * Fencing of zombie attempts. Each attempt of a stage run records itself in
 * runs/<key>/lease.json when it starts; before committing anything it checks that no later
 * attempt (or another run of the same key) has taken the lease since. An attempt whose heartbeat timed out (and was replaced)
 * therefore fails with FENCED instead of overwriting its successor's checkpoints or manifest.
 */
import { PipelineError } from '../core/errors';
import type { ArtifactStore } from '../artifacts/store';

export interface Lease {
  /** The activity execution (workflow run + activity id) the attempt belongs to. */
  readonly execution: string;
  readonly attempt: number;
  /** Identifies one execution of the attempt (the same attempt number can in theory run twice). */
  readonly token: string;
  readonly worker: string;
  readonly at: string;
}

const leaseKey = (key: string) => `runs/${key}/lease.json`;

export async function takeLease(store: ArtifactStore, key: string, lease: Lease): Promise<void> {
  const current = await readLease(store, key);
  // Only a later attempt of the same execution fences us; a new run (resume) simply takes over.
  if (current !== undefined && current.execution === lease.execution && current.attempt > lease.attempt) {
    throw new PipelineError('FENCED', `attempt ${lease.attempt} of run ${key} started after attempt ${current.attempt} took over; stopping`);
  }
  await store.put(leaseKey(key), JSON.stringify(lease));
}

export async function assertLease(store: ArtifactStore, key: string, lease: Lease): Promise<void> {
  const current = await readLease(store, key);
  if (current === undefined || current.token !== lease.token) {
    throw new PipelineError(
      'FENCED',
      `attempt ${lease.attempt} of run ${key} lost its lease to attempt ${current?.attempt ?? '?'} (on ${current?.worker ?? '?'}); its results are discarded so it cannot overwrite its successor`,
    );
  }
}

async function readLease(store: ArtifactStore, key: string): Promise<Lease | undefined> {
  if ((await store.stat(leaseKey(key))) === undefined) return undefined;
  try {
    return JSON.parse((await store.getBytes(leaseKey(key))).toString('utf8')) as Lease;
  } catch {
    return undefined;
  }
}
