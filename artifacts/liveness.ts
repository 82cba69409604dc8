/**
 * "Running" markers: while an attempt works on a stage run it refreshes
 * runs/<key>/alive/<token>.json every few seconds, so `robustok plan` can say `running` instead
 * of `will run`. Separate from the lease on purpose: a marker never decides who may commit.
 */
import type { ArtifactStore } from './store';

export const ALIVE_REFRESH_MS = 5_000;
/** A marker older than this belongs to a dead attempt. */
export const ALIVE_FRESH_MS = 15_000;

export interface AliveMarker {
  readonly attempt: number;
  readonly worker: string;
  readonly at: string;
  /** The activity execution (workflow run + activity id): single flight tells other runs' attempts apart. */
  readonly execution?: string;
  /** When the attempt started working on the key: the earliest live claim wins (artifacts/single-flight.ts). */
  readonly since?: string;
  readonly token?: string;
}

const prefix = (key: string) => `runs/${key}/alive/`;

/**
 * Starts refreshing the marker; the returned function stops and removes it. `written` resolves once
 * the first marker is in the store (single flight reads the others' markers only after that); `since`
 * is the start time every refresh repeats.
 */
export function keepAlive(
  store: ArtifactStore,
  key: string,
  token: string,
  marker: Omit<AliveMarker, 'at' | 'token' | 'since'>,
): (() => Promise<void>) & { written: Promise<void>; since: string } {
  const file = `${prefix(key)}${token}.json`;
  const since = new Date().toISOString();
  // Writes retry through a store outage: never start a second while one is still waiting.
  let pending: Promise<unknown> | undefined;
  const write = () => {
    pending ??= store
      .put(file, JSON.stringify({ ...marker, token, since, at: new Date().toISOString() } satisfies AliveMarker))
      .catch(() => undefined)
      .finally(() => (pending = undefined));
    return pending;
  };
  const written = write().then(() => undefined);
  const timer = setInterval(() => void write(), ALIVE_REFRESH_MS);
  timer.unref();
  const stop = async () => {
    clearInterval(timer);
    // Not awaited: with the store down, removal would wait out its retries and hold up the attempt's
    // result; a marker left behind goes stale on its own after ALIVE_FRESH_MS.
    void store.delete(file).catch(() => undefined);
    await Promise.resolve();
  };
  return Object.assign(stop, { written, since });
}

/** Markers of attempts seen alive within ALIVE_FRESH_MS. */
export async function liveAttempts(store: ArtifactStore, key: string, now = Date.now()): Promise<AliveMarker[]> {
  const out: AliveMarker[] = [];
  for (const k of await store.list(prefix(key))) {
    try {
      const m = JSON.parse((await store.getBytes(k)).toString('utf8')) as AliveMarker;
      if (now - Date.parse(m.at) < ALIVE_FRESH_MS) out.push(m);
    } catch {
      // a marker removed or half-read meanwhile: not alive
    }
  }
  return out;
}
