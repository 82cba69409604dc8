/**
 * Single flight across runs: two runs (or two arms of concurrent sweeps) that reach the same stage key
 * at the same time must not both compute it. Within one run the workflow already merges identical stage
 * runs; across runs the only shared place is the store, so the attempts coordinate there through their
 * alive markers (artifacts/liveness.ts):
 *
 *   1. an attempt writes its marker (with the time it started on the key) before it computes;
 *   2. it waits a settle interval, so an attempt that started at about the same time is visible too
 *      (S3 and the local store are read-after-write consistent), then lists the live markers;
 *   3. if a live marker of ANOTHER execution started earlier (ties: smaller token), that attempt owns
 *      the work: this one waits, heartbeating, until the owner's manifest appears (→ its result is
 *      reused, like a cache hit) or the owner's marker goes stale or disappears without a manifest
 *      (failed, cancelled or dead → this attempt computes after all).
 *
 * Without an atomic create this is a protocol, not a lock: two attempts that start within the settle
 * interval of each other both see each other and the rule picks exactly one; later arrivals always see
 * the owner. The worst case of a missed marker (a store read failing) is the old behaviour — both compute
 * the same content-addressed result — never a wrong one.
 */
import type { ArtifactStore } from './store';
import { lookupManifest, type Manifest } from './manifest';
import { liveAttempts, type AliveMarker } from './liveness';

export const SETTLE_MS = 500;
const POLL_MS = 2_000;

export interface SingleFlightOptions {
  readonly execution: string;
  readonly token: string;
  readonly since: string;
  /** Called while waiting (heartbeat; throws when the attempt was cancelled). */
  readonly onWait: (owner: AliveMarker) => void;
  readonly signal?: AbortSignal;
  readonly settleMs?: number;
  readonly pollMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The live marker that owns the key, if it is not this attempt's execution. */
function ownerOf(live: readonly AliveMarker[], self: { execution: string; token: string; since: string }): AliveMarker | undefined {
  const mine = { since: self.since, token: self.token };
  const rank = (m: { since?: string; token?: string }) => [m.since ?? '', m.token ?? ''] as const;
  let best: { since?: string; token?: string; execution?: string } = mine;
  let owner: AliveMarker | undefined;
  for (const m of live) {
    // Markers of older writers (no execution/since) and of our own execution's attempts never own the key.
    if (m.execution === undefined || m.since === undefined || m.token === undefined || m.execution === self.execution) continue;
    const [a, b] = [rank(m), rank(best)];
    if (a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])) {
      best = m;
      owner = m;
    }
  }
  return owner;
}

/**
 * Waits while another execution computes `key`; returns its manifest once it is committed, or
 * undefined when this attempt should compute the key itself.
 */
export async function awaitInFlight(store: ArtifactStore, key: string, o: SingleFlightOptions): Promise<Manifest | undefined> {
  // A manifest already there when this attempt starts is either one another run committed since this
  // run's cache lookup (it verifies: take it) or the entry the lookup rejected (it does not: never join
  // it; only a manifest committed after it is another run's fresh result).
  const stamp = (m: Manifest) => `${m.finishedAt}/${m.attempt}/${m.host}`;
  const raw = await lookupManifest(store, key, { verify: false }).catch(() => undefined);
  let stale: string | undefined;
  if (raw?.state === 'hit') {
    const verified = await lookupManifest(store, key, { verify: true }).catch(() => undefined);
    if (verified?.state === 'hit') return verified.manifest;
    stale = stamp(raw.manifest);
  }
  await sleep(o.settleMs ?? SETTLE_MS);
  for (;;) {
    o.signal?.throwIfAborted();
    const found = await lookupManifest(store, key, { verify: false }).catch(() => undefined);
    if (found?.state === 'hit' && stamp(found.manifest) !== stale) return found.manifest;
    const live = await liveAttempts(store, key).catch(() => []);
    const owner = ownerOf(live, o);
    if (owner === undefined) return undefined;
    o.onWait(owner);
    await sleep(o.pollMs ?? POLL_MS);
  }
}
