/**
 * Fencing of zombie attempts. Each attempt of a stage run records itself in
 * runs/<key>/leases/<execution>.json when it starts; before committing anything it checks that no
 * later attempt of the same execution has taken the lease since. An attempt whose heartbeat timed
 * out (and was replaced) therefore fails with FENCED instead of overwriting its successor's
 * checkpoints or manifest.
 */
import { sha256Hex } from '../core/digest';
import { PipelineError } from '../core/errors';
import type { ArtifactStore } from './store';

export interface Lease {
  /** The activity execution (workflow run + activity id) the attempt belongs to. */
  readonly execution: string;
  readonly attempt: number;
  /** Identifies one execution of the attempt (the same attempt number can in theory run twice). */
  readonly token: string;
  readonly worker: string;
  readonly at: string;
}

/**
 * One lease per activity execution: attempts of the same execution fence each other, while two
 * executions of the same key (two runs, or two stages with identical work) never do — both are
 * valid producers of the same content-addressed result.
 */
const leaseKey = (key: string, execution: string) => `runs/${key}/leases/${sha256Hex(execution).slice(0, 24)}.json`;

export async function takeLease(store: ArtifactStore, key: string, lease: Lease): Promise<void> {
  const current = await readLease(store, key, lease.execution);
  if (current !== undefined && current.attempt > lease.attempt) {
    throw new PipelineError('FENCED', `attempt ${lease.attempt} of run ${key} started after attempt ${current.attempt} took over; stopping`);
  }
  await store.put(leaseKey(key, lease.execution), JSON.stringify(lease));
}

export async function assertLease(store: ArtifactStore, key: string, lease: Lease): Promise<void> {
  const current = await readLease(store, key, lease.execution);
  if (current === undefined || current.token !== lease.token) {
    throw new PipelineError(
      'FENCED',
      `attempt ${lease.attempt} of run ${key} lost its lease to attempt ${current?.attempt ?? '?'} (on ${current?.worker ?? '?'}); its results are discarded so it cannot overwrite its successor`,
    );
  }
}

async function readLease(store: ArtifactStore, key: string, execution: string): Promise<Lease | undefined> {
  const file = leaseKey(key, execution);
  if ((await store.stat(file)) === undefined) return undefined;
  try {
    return JSON.parse((await store.getBytes(file)).toString('utf8')) as Lease;
  } catch {
    return undefined;
  }
}
