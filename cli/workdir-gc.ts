/**
 * Workdirs left on this host under the work root (<workRoot>/<key16>/attempt-<n>-<id>/): a
 * successful attempt removes its own, so what remains are failed or killed attempts — kept for
 * inspection — and attempts running now. `robustok gc` removes one only when the store shows no
 * attempt of its stage alive, no outputs-complete note still waits to upload from it, and nothing
 * in it changed for WORKDIR_QUIET_MS. Workdirs whose stage the store does not know (another store's
 * worker sharing the root) are left alone.
 */
import { lstat, readFile, readdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { AliveMarker } from '../artifacts/liveness';
import type { CompletedOutputs } from '../artifacts/completed-outputs';
import type { ArtifactStore } from '../artifacts/store';
import { ALIVE_GRACE_MS } from './store-gc';

export const WORKDIR_QUIET_MS = 10 * 60_000;

export interface WorkdirPlan {
  readonly root: string;
  readonly remove: readonly { path: string; bytes: number }[];
  /** Workdirs kept: running, waiting to upload, recently changed, or of a stage this store does not know. */
  readonly kept: readonly { path: string; why: string }[];
  readonly bytes: number;
}

/** Total size and newest mtime of a tree (symlinks counted as themselves, never followed). */
async function treeInfo(p: string): Promise<{ bytes: number; newest: number }> {
  const st = await lstat(p);
  let bytes = st.isDirectory() ? 0 : st.size;
  let newest = st.mtimeMs;
  if (st.isDirectory()) {
    for (const name of await readdir(p)) {
      const sub = await treeInfo(path.join(p, name));
      bytes += sub.bytes;
      newest = Math.max(newest, sub.newest);
    }
  }
  return { bytes, newest };
}

export async function planWorkdirs(store: ArtifactStore, root: string, now = Date.now()): Promise<WorkdirPlan> {
  const remove: { path: string; bytes: number }[] = [];
  const kept: { path: string; why: string }[] = [];
  const groups = await readdir(root, { withFileTypes: true }).catch(() => []);
  // One listing of the entries' folders, not one per workdir group.
  const entryFiles = groups.some((g) => g.isDirectory() && /^[0-9a-f]{16}$/.test(g.name)) ? await store.list('runs/') : [];
  for (const g of groups) {
    if (!g.isDirectory() || !/^[0-9a-f]{16}$/.test(g.name)) continue;
    const dir = path.join(root, g.name);
    const names = await readdir(dir).catch(() => [] as string[]);
    const attempts = names.filter((n) => n.startsWith('attempt-'));
    const keys = entryFiles.filter((k) => k.startsWith(`runs/${g.name}`));
    const fullKeys = [...new Set(keys.map((k) => /^runs\/([0-9a-f]{64})\//.exec(k)?.[1]).filter((k): k is string => k !== undefined))];
    const hasManifest = (key: string) => keys.includes(`runs/${key}/manifest.json`);
    let live = false;
    for (const k of keys.filter((x) => x.includes('/alive/'))) {
      const m = await store
        .getBytes(k)
        .then((b) => JSON.parse(b.toString('utf8')) as AliveMarker)
        .catch(() => undefined);
      if (m === undefined || now - Date.parse(m.at) <= ALIVE_GRACE_MS) live = true;
    }
    const note = await readFile(path.join(dir, 'outputs-complete.json'), 'utf8')
      .then((t) => JSON.parse(t) as CompletedOutputs)
      .catch(() => undefined);
    const pendingUpload = note !== undefined && !hasManifest(note.key) ? note.workdir : undefined;
    for (const a of attempts) {
      const p = path.join(dir, a);
      const info = await treeInfo(p).catch(() => undefined);
      if (info === undefined) continue;
      const why =
        fullKeys.length === 0
          ? 'its stage is not in this store'
          : live
            ? 'an attempt of its stage is running'
            : pendingUpload !== undefined && path.resolve(pendingUpload) === p
              ? 'its finished outputs wait to be uploaded'
              : now - info.newest < WORKDIR_QUIET_MS
                ? 'changed in the last 10 minutes'
                : undefined;
      if (why === undefined) remove.push({ path: p, bytes: info.bytes });
      else kept.push({ path: p, why });
    }
  }
  return { root, remove, kept, bytes: remove.reduce((n, r) => n + r.bytes, 0) };
}

/** Removes the planned workdirs (each re-checked for recent changes), then group folders left empty. */
export async function applyWorkdirs(plan: WorkdirPlan, now = Date.now()): Promise<{ removed: number; bytes: number }> {
  let removed = 0;
  let bytes = 0;
  for (const r of plan.remove) {
    const info = await treeInfo(r.path).catch(() => undefined);
    if (info === undefined || now - info.newest < WORKDIR_QUIET_MS) continue;
    await rm(r.path, { recursive: true, force: true });
    removed += 1;
    bytes += info.bytes;
    const group = path.dirname(r.path);
    const left = await readdir(group).catch(() => ['?']);
    if (left.length === 0) await rmdir(group).catch(() => undefined);
  }
  return { removed, bytes };
}
