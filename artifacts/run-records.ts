/**
 * Where run records live in the store, written by the workflow's last activity and read by
 * `explain` to compare keys with the previous run of the same pipeline:
 *   records/<runId>.json                    the record
 *   records/by-name/<pipeline>/latest.json  {runId, at} of the newest run of that pipeline
 */
import type { RunRecord } from '../core/run-record';
import type { ArtifactStore } from './store';

const recordKey = (runId: string) => `records/${runId}.json`;
const latestKey = (name: string) => `records/by-name/${name}/latest.json`;

/** Writes the record and points the pipeline's "latest" at it; returns the record's key. */
export async function writeRunRecordTo(store: ArtifactStore, record: RunRecord): Promise<string> {
  await store.put(recordKey(record.runId), `${JSON.stringify(record, null, 2)}\n`);
  await store.put(latestKey(record.name), JSON.stringify({ runId: record.runId, at: record.finishedAt }));
  return recordKey(record.runId);
}

/** The newest run record of a pipeline, or undefined when it never finished a run in this store. */
export async function latestRunRecord(store: ArtifactStore, name: string): Promise<RunRecord | undefined> {
  if ((await store.stat(latestKey(name))) === undefined) return undefined;
  const { runId } = JSON.parse((await store.getBytes(latestKey(name))).toString('utf8')) as { runId: string };
  return JSON.parse((await store.getBytes(recordKey(runId))).toString('utf8')) as RunRecord;
}
