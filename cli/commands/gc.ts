/**
 * `robustok gc --keep-runs N [--apply]`: frees the store (and this host's work root) of what the
 * newest N runs do not need — see cli/store-gc.ts and cli/workdir-gc.ts for exactly what is kept.
 * A dry run by default: it prints what would go and the bytes that would be freed; --apply deletes.
 */
import os from 'node:os';
import path from 'node:path';
import { openStore } from '../../artifacts/open-store';
import { isPipelineError } from '../../core/errors';
import { defaultStoreUri } from '../state-dir';
import { writeStdout } from '../write-stdout';
import { formatBytes } from '../run-history';
import { applyGc, planGc } from '../store-gc';
import { applyWorkdirs, planWorkdirs } from '../workdir-gc';

export interface GcOptions {
  readonly keepRuns?: string;
  readonly apply?: boolean;
  readonly workRoot?: string;
  readonly json?: boolean;
  readonly store?: string;
}

export async function gcCommand(o: GcOptions): Promise<number> {
  const keep = Number(o.keepRuns);
  if (o.keepRuns === undefined || !Number.isInteger(keep) || keep < 0) {
    console.error(`--keep-runs must be a whole number ≥ 0, got '${o.keepRuns ?? ''}'`);
    return 2;
  }
  const store = openStore(o.store ?? defaultStoreUri());
  // The default of every worker (activities/stage-activities.ts).
  const workRoot = path.resolve(o.workRoot ?? path.join(os.tmpdir(), 'robustok-work'));
  let plan = await planGc(store, keep);
  const work = await planWorkdirs(store, workRoot);
  let freed: { store: number; workdirs: number; deleted: number; spared: number } | undefined;
  if (o.apply) {
    // A run moving while gc planned makes apply refuse: plan again (a few times) rather than guess.
    let s: Awaited<ReturnType<typeof applyGc>> | undefined;
    for (let tries = 1; s === undefined; tries++) {
      try {
        s = await applyGc(store, plan);
      } catch (e) {
        if (!isPipelineError(e, 'STORE_ERROR') || !e.message.includes('while gc was planning') || tries >= 3) throw e;
        plan = await planGc(store, keep);
      }
    }
    const w = await applyWorkdirs(work);
    freed = { store: s.bytes, workdirs: w.bytes, deleted: s.deleted + w.removed, spared: s.spared };
  }
  const summary = {
    store: store.uri,
    apply: o.apply === true,
    keptRuns: plan.keptRuns,
    removedRuns: plan.removedRuns,
    inFlightRuns: plan.inFlightRuns,
    keptEntries: plan.keptEntries,
    objects: plan.objects.length,
    blobs: plan.blobs.length,
    sparedBlobs: plan.sparedBlobs,
    workdirs: { root: workRoot, remove: work.remove.map((w) => w.path), kept: work.kept },
    bytes: { store: plan.bytes.total, workdirs: work.bytes, total: plan.bytes.total + work.bytes },
  };
  if (o.json) {
    await writeStdout(
      `${JSON.stringify({ ...summary, ...(freed === undefined ? {} : { freed: { ...freed, total: freed.store + freed.workdirs } }) }, null, 2)}\n`,
    );
    return 0;
  }
  console.log(
    `store ${store.uri}: keeping ${plan.keptRuns.length} run(s)${plan.inFlightRuns.length ? ` and ${plan.inFlightRuns.length} unfinished (${plan.inFlightRuns.join(', ')})` : ''}, ${plan.keptEntries} cache entries; removing ${plan.removedRuns.length} run record(s)`,
  );
  console.log(
    `  ${plan.objects.length} records/manifests/checkpoints/log indexes (${formatBytes(plan.bytes.objects)}), ${plan.blobs.length} unreferenced blobs (${formatBytes(plan.bytes.blobs)})${plan.sparedBlobs ? `; ${plan.sparedBlobs} blobs spared (a running attempt may have written them)` : ''}`,
  );
  console.log(
    `work root ${workRoot}: ${work.remove.length} failed-attempt workdir(s) (${formatBytes(work.bytes)})${work.kept.length ? `; ${work.kept.length} kept (${[...new Set(work.kept.map((k) => k.why))].join('; ')})` : ''}`,
  );
  if (freed === undefined) console.log(`would free ${formatBytes(plan.bytes.total + work.bytes)} — dry run; --apply deletes`);
  else
    console.log(
      `freed ${formatBytes(freed.store + freed.workdirs)} (${freed.deleted} objects and workdirs deleted${freed.spared ? `, ${freed.spared} blobs spared: rewritten since the plan` : ''})`,
    );
  return 0;
}
