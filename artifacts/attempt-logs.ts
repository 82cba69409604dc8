/**
 * Logs of stage attempts, kept in the store so they outlive the worker's host (`robustok logs`).
 * The text is a content-addressed blob; a small index names it, one per attempt:
 *   logs/<runId>/<stage run id, '#' → '@'>/attempt-<n>-<token8>.json   → AttemptLogIndex
 *   cas/sha256/…                                                        → the (bounded, redacted) text
 * Successful attempts are also referenced from their cache entry's manifest, so a run that was
 * served from the cache can still show how the result was produced.
 */
import { PipelineError } from '../core/errors';
import { getBlobBytes } from './cas';
import type { ArtifactStore } from './store';
import type { AttemptLogRef } from '../core/attempt-log-ref';

export const ATTEMPT_LOG_SCHEMA = 'robustok.dev/attempt-log/v1';

export type { AttemptLogRef } from '../core/attempt-log-ref';

export interface AttemptLogIndex extends AttemptLogRef {
  readonly schema: typeof ATTEMPT_LOG_SCHEMA;
  readonly runId: string;
  readonly stageRunId: string;
  readonly stageId: string;
  readonly kind: string;
  /** Cache key of the stage run. */
  readonly key: string;
  readonly error?: { readonly code: string; readonly message: string };
}

/** Stage ids use letters, digits, _ and -; a run id adds '#<hex>' — '@' keeps the key plain and unambiguous. */
const part = (stageRunId: string) => stageRunId.replace(/#/g, '@');

export const logsPrefix = (runId: string, stageRunId?: string) => (stageRunId === undefined ? `logs/${runId}/` : `logs/${runId}/${part(stageRunId)}/`);
export const logIndexKey = (runId: string, stageRunId: string, attempt: number, token: string) =>
  `${logsPrefix(runId, stageRunId)}attempt-${attempt}-${token.slice(0, 8)}.json`;

/** Every attempt log index of a run (optionally of one stage run), oldest attempt first. */
export async function listAttemptLogs(store: ArtifactStore, runId: string, stageRunId?: string): Promise<AttemptLogIndex[]> {
  const out: AttemptLogIndex[] = [];
  for (const k of await store.list(logsPrefix(runId, stageRunId))) {
    if (!k.endsWith('.json')) continue;
    try {
      const idx = JSON.parse((await store.getBytes(k)).toString('utf8')) as AttemptLogIndex;
      if (idx.schema === ATTEMPT_LOG_SCHEMA) out.push(idx);
    } catch {
      // removed meanwhile, or not ours: not a log
    }
  }
  return out.sort((a, b) => a.stageRunId.localeCompare(b.stageRunId) || a.attempt - b.attempt || a.finishedAt.localeCompare(b.finishedAt));
}

/** The text of a log, its digest checked while reading. */
export async function readAttemptLog(store: ArtifactStore, ref: Pick<AttemptLogRef, 'digest' | 'bytes'>): Promise<string> {
  try {
    return (await getBlobBytes(store, ref)).toString('utf8');
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    throw new PipelineError('STORE_ERROR', `could not read log blob ${ref.digest} from ${store.uri}: ${String(e)}`, { cause: e });
  }
}

export const LOG_HEAD_BYTES = 64 * 1024;
export const LOG_TAIL_BYTES = 448 * 1024;

/** `text` cut to its first `head` and last `tail` bytes with a marker between, when longer. */
export function boundLog(text: Buffer, head = LOG_HEAD_BYTES, tail = LOG_TAIL_BYTES): Buffer {
  if (text.length <= head + tail) return text;
  return Buffer.concat([text.subarray(0, head), omittedMarker(text.length - head - tail), text.subarray(text.length - tail)]);
}

export function omittedMarker(bytes: number): Buffer {
  return Buffer.from(`\n[… ${bytes} bytes omitted: a stored log keeps its first ${LOG_HEAD_BYTES / 1024} KiB and last ${LOG_TAIL_BYTES / 1024} KiB …]\n`);
}
