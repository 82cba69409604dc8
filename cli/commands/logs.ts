/**
 * `robustok logs <run> [stage] [--attempt n]`: a stage attempt's log as the worker stored it
 * (logger lines, stdout, stderr; bounded and redacted). Without a stage: which logs the run has.
 * A stage served from the cache shows the log of the attempt that produced the entry. Works on a
 * run still going (no record yet) by reading its log indexes directly.
 */
import { listAttemptLogs, readAttemptLog, type AttemptLogRef } from '../../artifacts/attempt-logs';
import { lookupManifest } from '../../artifacts/manifest';
import { openStore } from '../../artifacts/open-store';
import type { ArtifactStore } from '../../artifacts/store';
import { PipelineError, isPipelineError } from '../../core/errors';
import type { RunRecord } from '../../core/run-record';
import { defaultStoreUri } from '../state-dir';
import { findStageRun, formatBytes, resolveRun } from '../run-history';
import { writeStdout } from '../write-stdout';

export interface LogsOptions {
  readonly attempt?: string;
  readonly json?: boolean;
  readonly store?: string;
}

interface StageLogs {
  readonly id: string;
  readonly outcome: string;
  readonly key?: string;
  readonly logs: readonly AttemptLogRef[];
  /** For a cached stage: the log of the attempt that produced the cache entry. */
  readonly producer?: AttemptLogRef;
}

async function stageLogs(
  store: ArtifactStore,
  runId: string,
  s: { id: string; outcome: string; key?: string; logs?: readonly AttemptLogRef[] },
): Promise<StageLogs> {
  const logs = s.logs ?? (await listAttemptLogs(store, runId, s.id));
  let producer: AttemptLogRef | undefined;
  // Served from the cache, or joined to another run computing the same key: show the producer's log.
  if (logs.length === 0 && s.key !== undefined && s.outcome !== 'skipped') {
    const m = await lookupManifest(store, s.key, { verify: false });
    if (m.state === 'hit') producer = m.manifest.log;
  }
  return { id: s.id, outcome: s.outcome, key: s.key, logs, producer };
}

/** The record, or — for a run that has not finished — a stand-in built from its log indexes. */
async function runOrLogs(store: ArtifactStore, name: string): Promise<{ record?: RunRecord; runId: string; stages: StageLogs[] }> {
  try {
    const record = await resolveRun(store, name);
    const stages: StageLogs[] = [];
    for (const s of record.stages) stages.push(await stageLogs(store, record.runId, s));
    return { record, runId: record.runId, stages };
  } catch (e) {
    const runId = name.startsWith('run-') ? name.slice(4) : name;
    const found = isPipelineError(e, 'INPUT_MISSING') ? await listAttemptLogs(store, runId) : [];
    if (found.length === 0) throw e;
    const ids = [...new Set(found.map((l) => l.stageRunId))];
    return { runId, stages: ids.map((id) => ({ id, outcome: 'running', logs: found.filter((l) => l.stageRunId === id) })) };
  }
}

function describe(l: AttemptLogRef): string {
  const cut = l.originalBytes > l.bytes ? ` (of ${formatBytes(l.originalBytes)})` : '';
  return `attempt ${l.attempt} ${l.outcome} on ${l.worker} at ${l.finishedAt}, ${formatBytes(l.bytes)}${cut}`;
}

export async function logsCommand(run: string, stage: string | undefined, o: LogsOptions): Promise<number> {
  const store = openStore(o.store ?? defaultStoreUri());
  const got = await runOrLogs(store, run);
  if (stage === undefined) {
    if (o.json) {
      await writeStdout(`${JSON.stringify({ runId: got.runId, stages: got.stages }, null, 2)}\n`);
      return 0;
    }
    console.log(`run ${got.runId}${got.record === undefined ? ' (not finished: no run record yet)' : ''}`);
    for (const s of got.stages) {
      const what =
        s.logs.length > 0 ? s.logs.map(describe).join('; ') : s.producer !== undefined ? `cached — log of the producing ${describe(s.producer)}` : 'no log';
      console.log(`  ${s.id.padEnd(24)} ${s.outcome.padEnd(8)} ${what}`);
    }
    console.log(`show one: robustok logs ${got.runId} <stage> [--attempt n]`);
    return 0;
  }
  let target: StageLogs | undefined;
  if (got.record !== undefined) {
    const s = findStageRun(got.record, stage);
    target = got.stages.find((x) => x.id === s.id);
  } else {
    const matches = got.stages.filter((s) => s.id === stage || s.id.startsWith(`${stage}#`));
    target = matches.length === 1 ? matches[0] : got.stages.find((s) => s.id === stage);
  }
  if (target === undefined)
    throw new PipelineError(
      'INPUT_MISSING',
      `run ${got.runId} has no logs of stage '${stage}' (stages with logs: ${got.stages.map((s) => s.id).join(', ') || 'none'})`,
    );
  let log: AttemptLogRef | undefined;
  let note: string;
  if (o.attempt !== undefined) {
    const n = Number(o.attempt);
    log = [...target.logs].reverse().find((l) => l.attempt === n);
    if (log === undefined)
      throw new PipelineError(
        'INPUT_MISSING',
        `stage ${target.id} of run ${got.runId} has no log of attempt ${o.attempt} (attempts with logs: ${target.logs.map((l) => l.attempt).join(', ') || 'none'})`,
      );
    note = describe(log);
  } else if (target.logs.length > 0) {
    log = target.logs[target.logs.length - 1];
    note = log === undefined ? '' : describe(log);
  } else {
    log = target.producer;
    note =
      log === undefined
        ? ''
        : `${target.outcome === 'cached' ? 'cached in this run' : 'computed by another run'}; the log of the ${describe(log)} that produced entry ${target.key?.slice(0, 16) ?? '?'}…`;
  }
  if (log === undefined) {
    const why =
      target.outcome === 'skipped'
        ? 'it was skipped'
        : target.outcome === 'cached'
          ? 'its cache entry has no stored log (made before logs were stored)'
          : 'no attempt stored one';
    throw new PipelineError('INPUT_MISSING', `stage ${target.id} of run ${got.runId} has no log: ${why}`);
  }
  const text = await readAttemptLog(store, log);
  if (o.json) {
    await writeStdout(`${JSON.stringify({ runId: got.runId, stage: target.id, ...log, text }, null, 2)}\n`);
    return 0;
  }
  console.error(`${target.id}: ${note}`);
  await writeStdout(text.endsWith('\n') ? text : `${text}\n`);
  return 0;
}
