/**
 * `robustok report <run> [--out dir]`: one self-contained HTML page of a finished run (stage
 * graph with outcomes and durations, metrics pivoted on the sweep axes with a CSV beside it, FID
 * plots, sample grids, training curves, every artifact, the FID network's provenance), read from
 * the store only. `<run>` is a run id, a unique prefix of one, or `latest`.
 */
import { openStore } from '../../artifacts/open-store';
import { defaultReportDir, writeReport } from '../../report/write';
import { resolveRun } from '../run-history';
import { defaultStoreUri, stateDir } from '../state-dir';

export interface ReportOptions {
  readonly out?: string;
  readonly store?: string;
  readonly json?: boolean;
}

export async function reportCommand(run: string, o: ReportOptions): Promise<number> {
  const store = openStore(o.store ?? defaultStoreUri());
  const record = await resolveRun(store, run);
  const written = await writeReport(store, record, o.out ?? defaultReportDir(stateDir(), record.runId));
  if (o.json) console.log(JSON.stringify({ runId: record.runId, report: written.html, csv: written.csv, warnings: written.data.warnings }, null, 2));
  else {
    for (const w of written.data.warnings) console.error(`warning: ${w}`);
    console.log(`report: ${written.html}`);
    console.log(`metrics table: ${written.csv}`);
  }
  return 0;
}
