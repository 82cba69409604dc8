/**
 * `robustok runs [--json] [--limit N]`: past runs from the store's run records — id, pipeline,
 * outcome, start, duration, stage counts and the best metric (lowest FID over the arms). Reads
 * the store only, so it answers without a Temporal server.
 */
import { openStore } from '../../artifacts/open-store';
import type { Json } from '../../core/canonical-json';
import type { RunRecord } from '../../core/run-record';
import { defaultStoreUri } from '../state-dir';
import { writeStdout } from '../write-stdout';
import { formatDuration, listRunRecords } from '../run-history';

export interface BestMetric {
  readonly metric: string;
  readonly value: number;
  readonly arm: string;
  /** False when the FID network was randomly initialised: not comparable with published numbers. */
  readonly comparable: boolean;
}

/** Lowest FID over the arms (any stage's `fid` metric), with the arm it came from. */
export function bestMetric(record: RunRecord): BestMetric | undefined {
  let best: BestMetric | undefined;
  for (const arm of record.arms) {
    for (const [k, v] of Object.entries(arm.metrics)) {
      if (!k.endsWith('.fid') || typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (best !== undefined && best.value <= v) continue;
      const digest: Json | undefined = arm.metrics[`${k.slice(0, -'.fid'.length)}.weightsDigest`];
      best = { metric: k, value: v, arm: arm.label, comparable: !(typeof digest === 'string' && digest.startsWith('random-init')) };
    }
  }
  return best;
}

export function runSummary(r: RunRecord) {
  const count = (o: string) => r.stages.filter((s) => s.outcome === o).length;
  return {
    runId: r.runId,
    name: r.name,
    outcome: r.outcome,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    durationMs: Date.parse(r.finishedAt) - Date.parse(r.startedAt),
    arms: r.arms.length,
    stages: { ran: count('ran'), cached: count('cached'), failed: count('failed'), skipped: count('skipped') },
    best: bestMetric(r),
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function runsCommand(o: { json?: boolean; limit?: string; store?: string }): Promise<number> {
  const store = openStore(o.store ?? defaultStoreUri());
  const limit = o.limit === undefined ? 20 : Number(o.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    console.error(`--limit must be a positive integer, got '${o.limit ?? ''}'`);
    return 2;
  }
  const all = await listRunRecords(store);
  const shown = all.slice(0, limit).map(runSummary);
  if (o.json) {
    await writeStdout(`${JSON.stringify({ store: store.uri, total: all.length, runs: shown }, null, 2)}\n`);
    return 0;
  }
  if (all.length === 0) {
    console.log(`no finished runs in ${store.uri}`);
    return 0;
  }
  const rows = [['RUN', 'PIPELINE', 'OUTCOME', 'STARTED', 'DURATION', 'STAGES', 'BEST']];
  for (const s of shown) {
    const stages = [
      `${s.stages.ran} ran`,
      `${s.stages.cached} cached`,
      ...(s.stages.failed ? [`${s.stages.failed} failed`] : []),
      ...(s.stages.skipped ? [`${s.stages.skipped} skipped`] : []),
    ].join(', ');
    const best =
      s.best === undefined
        ? '—'
        : `${s.best.metric} ${s.best.value.toPrecision(5)}${s.best.arm ? ` (${s.best.arm})` : ''}${s.best.comparable ? '' : ' [random net]'}`;
    rows.push([s.runId, s.name, s.outcome, s.startedAt.replace('T', ' ').slice(0, 19), formatDuration(s.durationMs), stages, best]);
  }
  await writeStdout(`${table(rows)}\n`);
  if (all.length > shown.length) console.log(`(${all.length - shown.length} older runs not shown; --limit ${all.length} shows all)`);
  return 0;
}
