/**
 * Writes a run's report: `<out>/report.html` (self-contained) and `<out>/metrics.csv` (the pivot
 * table). Used by `robustok report` and, after every run, by `robustok run`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactStore } from '../artifacts/store';
import type { RunRecord } from '../core/run-record';
import type { ReportData } from './collect';

export interface WrittenReport {
  readonly html: string;
  readonly csv: string;
  readonly data: ReportData;
}

export async function writeReport(store: ArtifactStore, record: RunRecord, outDir: string): Promise<WrittenReport> {
  // Loaded on use: ECharts and sharp cost every CLI start half a second, and only this needs them.
  const [{ collectReport }, { renderReport }, { pivotCsv }] = await Promise.all([import('./collect.js'), import('./html.js'), import('./pivot.js')]);
  const data = await collectReport(store, record);
  await mkdir(outDir, { recursive: true });
  const html = path.join(outDir, 'report.html');
  const csv = path.join(outDir, 'metrics.csv');
  await writeFile(csv, pivotCsv(data.pivot));
  await writeFile(html, renderReport(data, new Date().toISOString()));
  return { html, csv, data };
}

/** Where `run` puts a run's report when no folder is given: <state dir>/reports/<runId>/. */
export const defaultReportDir = (stateDir: string, runId: string) => path.join(stateDir, 'reports', runId);

/** `run`'s report after the record: a failure to write it is a warning, never the run's failure. */
export async function reportAfterRun(store: ArtifactStore, record: RunRecord, outDir: string, warn: (l: string) => void): Promise<string | undefined> {
  try {
    return (await writeReport(store, record, outDir)).html;
  } catch (e) {
    warn(`warning: could not write the run report: ${e instanceof Error ? e.message : String(e)} (retry with 'robustok report ${record.runId}')`);
    return undefined;
  }
}
