/**
 * Finished runs as the store remembers them (records/<runId>.json): listing, and resolving what a
 * user types — a run id, `run-<id>` (the workflow id), a unique prefix of one, or `latest` — and a
 * stage name within a run. Reads the store only: no Temporal needed.
 */
import { PipelineError } from '../core/errors';
import { mapLimit } from '../core/map-limit';
import type { RunRecord, StageRunRecord } from '../core/run-record';
import type { ArtifactStore } from '../artifacts/store';

const RECORD = /^records\/([^/]+)\.json$/;

export async function listRunIds(store: ArtifactStore): Promise<string[]> {
  return (await store.list('records/')).map((k) => RECORD.exec(k)?.[1]).filter((id): id is string => id !== undefined);
}

export async function readRunRecord(store: ArtifactStore, runId: string): Promise<RunRecord | undefined> {
  try {
    const r = JSON.parse((await store.getBytes(`records/${runId}.json`)).toString('utf8')) as RunRecord;
    return r.schema === 'robustok.dev/run-record/v1' && Array.isArray(r.stages) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Every readable run record, newest start first. */
export async function listRunRecords(store: ArtifactStore): Promise<RunRecord[]> {
  const records = await mapLimit(await listRunIds(store), 16, (id) => readRunRecord(store, id));
  return records.filter((r): r is RunRecord => r !== undefined).sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.runId.localeCompare(a.runId));
}

/** The run a user named; INPUT_MISSING (with what exists) when there is none or the prefix is ambiguous. */
export async function resolveRun(store: ArtifactStore, name: string): Promise<RunRecord> {
  const id = name.startsWith('run-') ? name.slice(4) : name;
  const exact = (await readRunRecord(store, id)) ?? (id === name ? undefined : await readRunRecord(store, name));
  if (exact !== undefined) return exact;
  if (name === 'latest') {
    const newest = (await listRunRecords(store))[0];
    if (newest !== undefined) return newest;
  }
  const ids = await listRunIds(store);
  const matches = ids.filter((r) => r.startsWith(id) || r.startsWith(name));
  if (matches.length === 1) {
    const r = await readRunRecord(store, matches[0] ?? '');
    if (r !== undefined) return r;
  }
  if (matches.length > 1)
    throw new PipelineError('INPUT_MISSING', `run '${name}' is ambiguous in ${store.uri}: ${matches.slice(0, 8).join(', ')}${matches.length > 8 ? ', …' : ''}`);
  throw new PipelineError(
    'INPUT_MISSING',
    `no finished run '${name}' in ${store.uri} (${ids.length} run records; list them with 'robustok runs'; a run still going has no record yet: 'robustok status')`,
  );
}

/** A stage run of a record by its run id (`train#1a2b3c4d`) or, when the stage has one run, by its stage id. */
export function findStageRun(record: RunRecord, name: string): StageRunRecord {
  const exact = record.stages.find((s) => s.id === name);
  if (exact !== undefined) return exact;
  const byStage = record.stages.filter((s) => s.stageId === name || s.id.startsWith(`${name}#`));
  if (byStage.length === 1 && byStage[0] !== undefined) return byStage[0];
  if (byStage.length > 1) {
    throw new PipelineError(
      'INPUT_MISSING',
      `stage '${name}' has ${byStage.length} runs in ${record.runId} (one per sweep value): name one of ${byStage.map((s) => `${s.id} [arms ${s.arms.join(',')}]`).join(', ')}`,
    );
  }
  throw new PipelineError(
    'INPUT_MISSING',
    `run ${record.runId} has no stage '${name}'; its stages: ${[...new Set(record.stages.map((s) => s.stageId))].join(', ')}`,
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u] ?? 'TiB'}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
