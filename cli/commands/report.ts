/**
 * `robustok report <run> [--out dir]`: one self-contained HTML page of a finished run (stage
 * graph with outcomes and durations, metrics pivoted on the sweep axes with a CSV beside it, FID
 * plots, sample grids, training curves, every artifact, the FID network's provenance), read from
 * the store only. `<run>` is a run id, a unique prefix of one, or `latest`.
 */
import { openStore } from '../../artifacts/open-store';
import type { ArtifactStore } from '../../artifacts/store';
import { PipelineError } from '../../core/errors';
import type { RunRecord } from '../../core/run-record';
import { defaultReportDir, writeReport } from '../../report/write';
import { defaultStoreUri, stateDir } from '../state-dir';

export interface ReportOptions {
  readonly out?: string;
  readonly store?: string;
  readonly json?: boolean;
}

const RECORD = /^records\/([^/]+)\.json$/;

async function readRecord(store: ArtifactStore, runId: string): Promise<RunRecord | undefined> {
  if ((await store.stat(`records/${runId}.json`)) === undefined) return undefined;
  return JSON.parse((await store.getBytes(`records/${runId}.json`)).toString('utf8')) as RunRecord;
}

/** A run id, `run-<id>`, a unique prefix, or `latest` (the newest record by start time). */
async function findRun(store: ArtifactStore, name: string): Promise<RunRecord> {
  const id = name.replace(/^run-/, '');
  const exact = await readRecord(store, id);
  if (exact !== undefined) return exact;
  const ids = (await store.list('records/')).map((k) => RECORD.exec(k)?.[1]).filter((x): x is string => x !== undefined);
  const matches = name === 'latest' ? ids : ids.filter((r) => r.startsWith(id));
  const records = (await Promise.all(matches.map((m) => readRecord(store, m)))).filter((r): r is RunRecord => r !== undefined);
  records.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  if (records.length === 1 || (name === 'latest' && records[0] !== undefined)) return records[0] as RunRecord;
  if (records.length > 1) throw new PipelineError('INPUT_MISSING', `run '${name}' is ambiguous in ${store.uri}: ${records.slice(0, 8).map((r) => r.runId).join(', ')}`);
  throw new PipelineError('INPUT_MISSING', `no finished run '${name}' in ${store.uri} (${ids.length} run records; a run still going has no record yet)`);
}

export async function reportCommand(run: string, o: ReportOptions): Promise<number> {
  const store = openStore(o.store ?? defaultStoreUri());
  const record = await findRun(store, run);
  const written = await writeReport(store, record, o.out ?? defaultReportDir(stateDir(), record.runId));
  if (o.json) console.log(JSON.stringify({ runId: record.runId, report: written.html, csv: written.csv, warnings: written.data.warnings }, null, 2));
  else {
    for (const w of written.data.warnings) console.error(`warning: ${w}`);
    console.log(`report: ${written.html}`);
    console.log(`metrics table: ${written.csv}`);
  }
  return 0;
}
