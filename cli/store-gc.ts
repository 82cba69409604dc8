/**
 * Garbage collection of the artifact store for `robustok gc --keep-runs N`: plan first (nothing is
 * deleted), apply separately. Kept: the newest N run records and everything they reference —
 * their cache entries' manifests, output blobs and logs, their attempt logs — and everything an
 * unfinished run may still need. Collected: older records and their log indexes, cache entries no
 * kept run uses, checkpoints of finished entries (and all but the newest of an unfinished kept
 * one), and every blob nothing kept references.
 *
 * Unfinished ("in-flight") runs have no record yet; they are recognised by what they write while
 * going: leases of the stages they run, used-marks of the cache hits they take
 * (artifacts/usage-marks.ts) and alive markers of running attempts. A run without a record whose
 * newest such trace is younger than IN_FLIGHT_WINDOW_MS, or with an attempt alive now, is in flight:
 * every entry it touched is kept whole. Blobs written since the oldest live attempt started are
 * kept too (its outputs are uploaded before its manifest names them), and at apply time every
 * blob is stat'ed again and spared if it was written after the plan was made.
 */
import { listAttemptLogs, type AttemptLogIndex } from '../artifacts/attempt-logs';
import type { BlobRef } from '../artifacts/cas';
import type { Manifest, OutputEntry } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';
import type { RunRecord } from '../core/run-record';
import type { Lease } from '../artifacts/lease';
import type { AliveMarker } from '../artifacts/liveness';
import type { UsedMark } from '../artifacts/usage-marks';
import { PipelineError } from '../core/errors';
import { mapLimit } from '../core/map-limit';

/** A run without a record that left no trace for this long is abandoned (crashed, terminated). */
export const IN_FLIGHT_WINDOW_MS = 7 * 24 * 3600_000;
/** An alive marker refreshed within this is a running attempt (generous: a worker may stall). */
export const ALIVE_GRACE_MS = 5 * 60_000;
/** Half-written uploads (tmp/) older than this are debris. */
export const TMP_MAX_AGE_MS = 24 * 3600_000;

export interface GcPlan {
  readonly store: string;
  readonly madeAt: number;
  readonly keptRuns: readonly string[];
  readonly removedRuns: readonly string[];
  readonly inFlightRuns: readonly string[];
  /** Cache keys kept (used by kept runs, or touched by in-flight ones). */
  readonly keptEntries: number;
  /** Non-blob objects to delete (records, log indexes, manifests, checkpoint entries, markers), with sizes. */
  readonly objects: readonly { key: string; bytes: number }[];
  /** Unreferenced blobs to delete. */
  readonly blobs: readonly { key: string; bytes: number }[];
  /** Blobs unreferenced but spared because a live attempt may have just written them. */
  readonly sparedBlobs: number;
  readonly bytes: { readonly objects: number; readonly blobs: number; readonly total: number };
  /** Objects gc never touches (quarantine/, unknown prefixes), for the report. */
  readonly untouched: number;
  /** Every lease, used-mark and alive marker seen while planning: a new one at apply time means a run moved meanwhile. */
  readonly marks: readonly string[];
}

const KEY_DIR = /^runs\/([0-9a-f]{64})\/(.+)$/;
const CKPT = /^checkpoints\/attempt-(\d+)\/step-(\d+)\.json$/;
const BLOB = /^cas\/sha256\/[0-9a-f]{2}\/([0-9a-f]{64})$/;
const RECORD = /^records\/([^/]+)\.json$/;
const LATEST = /^records\/by-name\/.+\/latest\.json$/;
const LOG = /^logs\/([^/]+)\//;
/** The plan a run was started with (artifacts/run-plans.ts): goes with its record, never before (a run just starting has no record yet). */
const MARK = /^runs\/[0-9a-f]{64}\/(leases|used|alive)\//;
const PLAN = /^plans\/([^/]+)\.json$/;

async function readJson<T>(store: ArtifactStore, key: string): Promise<T | undefined> {
  try {
    return JSON.parse((await store.getBytes(key)).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The blobs of an output entry (records written by older versions may lack a directory's file list). */
function blobsOf(entry: { digest: string; bytes: number; type: string; files?: readonly BlobRef[] }): BlobRef[] {
  if (entry.type !== 'dir') return [entry];
  const files: unknown = entry.files;
  return Array.isArray(files) ? (files as BlobRef[]) : [];
}

interface KeyFiles {
  manifest?: string;
  checkpoints: { key: string; attempt: number; step: number }[];
  leases: string[];
  alive: string[];
  used: string[];
  other: string[];
}

export async function planGc(store: ArtifactStore, keepRuns: number, now = Date.now()): Promise<GcPlan> {
  const all = await store.list('');
  const recordIds: string[] = [];
  const latest: string[] = [];
  const plans = new Map<string, string>();
  const logRuns = new Map<string, string[]>();
  const byKey = new Map<string, KeyFiles>();
  const blobs: string[] = [];
  const tmp: string[] = [];
  let untouched = 0;
  for (const k of all) {
    let m: RegExpExecArray | null;
    if ((m = RECORD.exec(k))) recordIds.push(m[1] ?? '');
    else if (LATEST.test(k)) latest.push(k);
    else if ((m = PLAN.exec(k))) plans.set(m[1] ?? '', k);
    else if ((m = LOG.exec(k))) logRuns.set(m[1] ?? '', [...(logRuns.get(m[1] ?? '') ?? []), k]);
    else if ((m = KEY_DIR.exec(k))) {
      const key = m[1] ?? '';
      const rest = m[2] ?? '';
      const f = byKey.get(key) ?? { checkpoints: [], leases: [], alive: [], used: [], other: [] };
      byKey.set(key, f);
      const c = CKPT.exec(rest);
      if (rest === 'manifest.json') f.manifest = k;
      else if (c) f.checkpoints.push({ key: k, attempt: Number(c[1]), step: Number(c[2]) });
      else if (rest.startsWith('leases/')) f.leases.push(k);
      else if (rest.startsWith('alive/')) f.alive.push(k);
      else if (rest.startsWith('used/')) f.used.push(k);
      else f.other.push(k);
    } else if (BLOB.test(k)) blobs.push(k);
    else if (k.startsWith('tmp/')) tmp.push(k);
    else untouched += 1;
  }

  const records = (await mapLimit(recordIds, 16, async (id) => ({ id, record: await readJson<RunRecord>(store, `records/${id}.json`) })))
    .filter((r) => r.record?.startedAt !== undefined)
    .sort((a, b) => (b.record?.startedAt ?? '').localeCompare(a.record?.startedAt ?? '') || b.id.localeCompare(a.id));
  // An unreadable record is neither counted nor deleted: gc cannot know what it references.
  const kept = records.slice(0, keepRuns);
  const removed = records.slice(keepRuns);
  const hasRecord = new Set(records.map((r) => r.id));

  // Traces of unfinished runs: leases, used-marks, alive markers (mapped to runs through lease tokens).
  const lastSeen = new Map<string, number>();
  const touchedBy = new Map<string, Set<string>>();
  const liveKeys = new Set<string>();
  /** Lease and used-mark files → the run that wrote them. */
  const markOwner = new Map<string, string | undefined>();
  let oldestLiveStart = Infinity;
  const note = (runId: string | undefined, key: string, atMs: number) => {
    const id = runId ?? '?';
    lastSeen.set(id, Math.max(lastSeen.get(id) ?? 0, Number.isFinite(atMs) ? atMs : now));
    touchedBy.set(id, (touchedBy.get(id) ?? new Set()).add(key));
  };
  await mapLimit([...byKey.entries()], 16, async ([key, f]) => {
    const tokenRun = new Map<string, { runId?: string; at: number }>();
    for (const l of f.leases) {
      const lease = await readJson<Lease>(store, l);
      const wf = lease?.execution.split('/')[0];
      const runId = wf?.startsWith('run-') ? wf.slice(4) : undefined;
      const at = Date.parse(lease?.at ?? '');
      if (lease !== undefined) tokenRun.set(lease.token, { runId, at });
      markOwner.set(l, runId);
      note(runId, key, at);
    }
    for (const u of f.used) {
      const mark = await readJson<UsedMark>(store, u);
      markOwner.set(u, mark?.runId);
      note(mark?.runId, key, Date.parse(mark?.at ?? ''));
    }
    for (const a of f.alive) {
      const marker = await readJson<AliveMarker>(store, a);
      const at = Date.parse(marker?.at ?? '');
      if (marker !== undefined && now - at > ALIVE_GRACE_MS) continue;
      liveKeys.add(key);
      // Newer markers name their execution and start themselves; older ones are matched to a lease by token.
      const wf = marker?.execution?.split('/')[0];
      const owner =
        marker?.execution !== undefined && marker.since !== undefined
          ? { runId: wf?.startsWith('run-') ? wf.slice(4) : undefined, at: Date.parse(marker.since) }
          : tokenRun.get(a.slice(a.lastIndexOf('/') + 1, -'.json'.length));
      if (owner !== undefined) {
        note(owner.runId, key, now);
        oldestLiveStart = Math.min(oldestLiveStart, Number.isFinite(owner.at) ? owner.at : 0);
      } else oldestLiveStart = 0;
    }
  });
  const inFlight = [...lastSeen.entries()].filter(([id, at]) => !hasRecord.has(id) && (id === '?' || now - at < IN_FLIGHT_WINDOW_MS)).map(([id]) => id);
  for (const id of [...touchedBy.keys()])
    if (!hasRecord.has(id) && [...(touchedBy.get(id) ?? [])].some((k) => liveKeys.has(k)) && !inFlight.includes(id)) inFlight.push(id);
  const protectedKeys = new Set<string>(liveKeys);
  for (const id of inFlight) for (const k of touchedBy.get(id) ?? []) protectedKeys.add(k);

  const keptKeys = new Set(protectedKeys);
  const referenced = new Set<string>();
  const ref = (b: BlobRef) => referenced.add(b.digest);
  for (const { record } of kept) {
    for (const s of record?.stages ?? []) {
      if (s.key !== undefined) keptKeys.add(s.key);
      for (const out of Object.values(s.outputs)) blobsOf(out).forEach(ref);
      for (const l of s.logs ?? []) ref(l);
    }
  }
  // Attempt logs of kept and in-flight runs (also those a record does not list, e.g. written late).
  const keptLogRuns = new Set([...kept.map((r) => r.id), ...inFlight]);
  for (const id of keptLogRuns) for (const l of await listAttemptLogs(store, id).catch((): AttemptLogIndex[] => [])) ref(l);

  const objects: string[] = [];
  const removedIds = new Set(removed.map((r) => r.id));
  await mapLimit([...byKey.entries()], 16, async ([key, f]) => {
    if (!keptKeys.has(key)) {
      objects.push(...(f.manifest ? [f.manifest] : []), ...f.checkpoints.map((c) => c.key), ...f.leases, ...f.alive, ...f.used, ...f.other);
      return;
    }
    // Marks of runs that are gone (their record removed now, or abandoned) would make them look unfinished to the next gc.
    const inFlightSet = new Set(inFlight);
    for (const mark of [...f.leases, ...f.used]) {
      const owner = markOwner.get(mark);
      if (owner !== undefined && !inFlightSet.has(owner) && (removedIds.has(owner) || !hasRecord.has(owner))) objects.push(mark);
    }
    if (f.manifest !== undefined) {
      const m = await readJson<Manifest>(store, f.manifest);
      for (const out of Object.values(m?.outputs ?? {})) blobsOf(out).forEach(ref);
      if (m?.log !== undefined) ref(m.log);
    }
    // Checkpoints serve only a stage that has not finished: all of an in-flight entry, the newest of an unfinished one.
    const newest = [...f.checkpoints].sort((a, b) => b.step - a.step || b.attempt - a.attempt)[0];
    for (const c of f.checkpoints) {
      const keep = protectedKeys.has(key) || (f.manifest === undefined && c === newest);
      if (!keep) {
        objects.push(c.key);
        continue;
      }
      const entry = await readJson<OutputEntry>(store, c.key);
      if (entry === undefined) continue;
      blobsOf(entry).forEach(ref);
    }
  });
  objects.push(...removed.map((r) => `records/${r.id}.json`));
  for (const r of removed) {
    const planFile = plans.get(r.id);
    if (planFile !== undefined) objects.push(planFile);
  }
  for (const l of latest) {
    const p = await readJson<{ runId?: string }>(store, l);
    if (p?.runId !== undefined && removedIds.has(p.runId)) objects.push(l);
  }
  for (const [runId, keys] of logRuns) if (!keptLogRuns.has(runId) && (removedIds.has(runId) || !hasRecord.has(runId))) objects.push(...keys);

  const candidates = blobs.filter((k) => !referenced.has(k.slice(k.lastIndexOf('/') + 1)));
  const stats = await mapLimit([...candidates, ...tmp], 16, async (k) => ({ key: k, st: await store.stat(k) }));
  const garbage: { key: string; bytes: number }[] = [];
  let spared = 0;
  for (const { key, st } of stats) {
    if (st === undefined) continue;
    const written = st.modifiedMs ?? now;
    if (key.startsWith('tmp/')) {
      if (now - written > TMP_MAX_AGE_MS) garbage.push({ key, bytes: st.bytes });
      continue;
    }
    // A live attempt uploads outputs before its manifest names them: spare what it may have written.
    if (written >= oldestLiveStart - 60_000) spared += 1;
    else garbage.push({ key, bytes: st.bytes });
  }
  const objectStats = await mapLimit([...new Set(objects)].sort(), 16, async (k) => ({ key: k, bytes: (await store.stat(k))?.bytes ?? 0 }));
  const ob = objectStats.reduce((n, o) => n + o.bytes, 0);
  const bb = garbage.reduce((n, o) => n + o.bytes, 0);
  return {
    store: store.uri,
    madeAt: now,
    keptRuns: kept.map((r) => r.id),
    removedRuns: removed.map((r) => r.id),
    inFlightRuns: inFlight.filter((id) => id !== '?'),
    keptEntries: [...keptKeys].filter((k) => byKey.has(k)).length,
    objects: objectStats,
    blobs: garbage.sort((a, b) => a.key.localeCompare(b.key)),
    sparedBlobs: spared,
    bytes: { objects: ob, blobs: bb, total: ob + bb },
    untouched,
    marks: [...byKey.values()].flatMap((f) => [...f.leases, ...f.used, ...f.alive]).sort(),
  };
}

/**
 * Deletes what the plan lists: references first (records, manifests, checkpoint entries, log
 * indexes), blobs last — a crash in between leaves unreferenced blobs, never a dangling reference.
 * A blob written after the plan was made (a new upload of the same content) is spared.
 */
export async function applyGc(store: ArtifactStore, plan: GcPlan): Promise<{ deleted: number; bytes: number; spared: number }> {
  // A run that started (or took a cache hit, or began an attempt) since the plan may need what it would delete.
  const seen = new Set(plan.marks);
  const fresh = (await store.list('runs/')).filter((k) => MARK.test(k) && !seen.has(k));
  if (fresh.length > 0)
    throw new PipelineError(
      'STORE_ERROR',
      `a run touched the store while gc was planning (${fresh[0] ?? ''}${fresh.length > 1 ? ` and ${fresh.length - 1} more` : ''}); nothing was deleted — plan again`,
    );
  let deleted = 0;
  let bytes = 0;
  let spared = 0;
  await mapLimit(plan.objects, 16, async (o) => {
    await store.delete(o.key);
    deleted += 1;
    bytes += o.bytes;
  });
  await mapLimit(plan.blobs, 16, async (b) => {
    const st = await store.stat(b.key);
    if (st === undefined) return;
    if ((st.modifiedMs ?? Infinity) >= plan.madeAt - 1_000) {
      spared += 1;
      return;
    }
    await store.delete(b.key);
    deleted += 1;
    bytes += st.bytes;
  });
  return { deleted, bytes, spared };
}
