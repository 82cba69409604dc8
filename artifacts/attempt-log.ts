/**
 * Collects one stage attempt's log — the stage's logger lines plus whatever the stage wrote to
 * `<workdir>/.logs/*.log` (a command stage's stdout and stderr) — and uploads it to the store,
 * bounded (first 64 KiB + last 448 KiB) and redacted, for failed attempts too.
 */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { redact } from '../core/redact';
import { putBlob } from './cas';
import {
  ATTEMPT_LOG_SCHEMA,
  LOG_HEAD_BYTES,
  LOG_TAIL_BYTES,
  boundLog,
  listAttemptLogs,
  logIndexKey,
  omittedMarker,
  type AttemptLogIndex,
  type AttemptLogRef,
} from './attempt-logs';
import type { RunRecord } from '../core/run-record';
import type { ArtifactStore } from './store';

/** Logger lines in memory, bounded like the uploaded log: the first lines and a window of the last. */
export class AttemptLines {
  private readonly head: string[] = [];
  private headBytes = 0;
  private readonly tail: string[] = [];
  private tailBytes = 0;
  private dropped = 0;

  add(level: 'INFO' | 'WARN', message: string): void {
    const line = `${new Date().toISOString()} ${level} ${message}\n`;
    const n = Buffer.byteLength(line);
    if (this.headBytes + n <= LOG_HEAD_BYTES && this.tail.length === 0) {
      this.head.push(line);
      this.headBytes += n;
      return;
    }
    this.tail.push(line);
    this.tailBytes += n;
    while (this.tailBytes > LOG_TAIL_BYTES && this.tail.length > 1) {
      this.tailBytes -= Buffer.byteLength(this.tail.shift() ?? '');
      this.dropped += 1;
    }
  }

  text(): string {
    return this.head.join('') + (this.dropped > 0 ? `[… ${this.dropped} lines omitted …]\n` : '') + this.tail.join('');
  }
}

/** First and last bytes of a file, read by position: a program's stdout may be gigabytes. */
async function fileSection(file: string): Promise<{ body: Buffer; size: number }> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    return { body: await section(size), size };
  } finally {
    await fh.close();
  }

  async function section(size: number): Promise<Buffer> {
    const read = async (pos: number, len: number) => {
      const b = Buffer.alloc(len);
      const { bytesRead } = await fh.read(b, 0, len, pos);
      return b.subarray(0, bytesRead);
    };
    if (size <= LOG_HEAD_BYTES + LOG_TAIL_BYTES) return read(0, size);
    return Buffer.concat([
      await read(0, LOG_HEAD_BYTES),
      omittedMarker(size - LOG_HEAD_BYTES - LOG_TAIL_BYTES),
      await read(size - LOG_TAIL_BYTES, LOG_TAIL_BYTES),
    ]);
  }
}

/** `.logs/*.log` of the workdir, stderr last (the bounded log keeps the end, where errors are). */
async function stageLogFiles(workdir: string): Promise<string[]> {
  const names = await readdir(path.join(workdir, '.logs')).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.log')).sort((a, b) => Number(a === 'stderr.log') - Number(b === 'stderr.log') || a.localeCompare(b));
}

export interface AttemptLogInput {
  readonly runId: string;
  readonly stageRunId: string;
  readonly stageId: string;
  readonly kind: string;
  readonly key: string;
  readonly attempt: number;
  readonly token: string;
  readonly worker: string;
  readonly workdir: string;
  readonly startedAt: string;
  readonly outcome: AttemptLogRef['outcome'];
  readonly error?: { readonly code: string; readonly message: string };
}

/** The log text (each file already cut to its head and tail) and the size it would have whole. */
export async function composeAttemptLog(a: AttemptLogInput, lines: AttemptLines, finishedAt: string): Promise<{ text: Buffer; wholeBytes: number }> {
  const parts: Buffer[] = [
    Buffer.from(
      `# run ${a.runId}, stage ${a.stageRunId} (${a.kind}), attempt ${a.attempt} on ${a.worker}\n# key ${a.key}\n# ${a.startedAt} → ${finishedAt}: ${a.outcome}${a.error ? ` [${a.error.code}] ${a.error.message}` : ''}\n\n== stage log ==\n${lines.text()}`,
    ),
  ];
  let wholeBytes = parts[0]?.length ?? 0;
  for (const name of await stageLogFiles(a.workdir)) {
    const got = await fileSection(path.join(a.workdir, '.logs', name)).catch((e: unknown) => {
      const body = Buffer.from(`(unreadable: ${String(e)})\n`);
      return { body, size: body.length };
    });
    const title = Buffer.from(`\n== ${name.replace(/\.log$/, '')} ==\n`);
    parts.push(title, got.body);
    wholeBytes += title.length + got.size;
  }
  return { text: Buffer.concat(parts), wholeBytes };
}

/** Uploads the attempt's log and its index; returns the reference a manifest or record keeps. */
export async function uploadAttemptLog(store: ArtifactStore, a: AttemptLogInput, lines: AttemptLines): Promise<AttemptLogRef> {
  const finishedAt = new Date().toISOString();
  const raw = await composeAttemptLog(a, lines, finishedAt);
  // Stage output files are redacted as they are written; the worker's own secrets are checked once more here.
  const text = boundLog(Buffer.from(redact(raw.text.toString('utf8'))));
  const blob = await putBlob(store, text);
  const ref: AttemptLogRef = {
    attempt: a.attempt,
    outcome: a.outcome,
    digest: blob.digest,
    bytes: blob.bytes,
    originalBytes: Math.max(raw.wholeBytes, text.length),
    worker: a.worker,
    startedAt: a.startedAt,
    finishedAt,
  };
  const index: AttemptLogIndex = {
    schema: ATTEMPT_LOG_SCHEMA,
    ...ref,
    runId: a.runId,
    stageRunId: a.stageRunId,
    stageId: a.stageId,
    kind: a.kind,
    key: a.key,
    ...(a.error === undefined ? {} : { error: { code: a.error.code, message: redact(a.error.message) } }),
  };
  await store.put(logIndexKey(a.runId, a.stageRunId, a.attempt, a.token), JSON.stringify(index, null, 2));
  return ref;
}

/** Failed or cancelled attempts: best effort within 30 s, so a store outage cannot hold up the failure itself. */
export async function storeFailedLog(store: ArtifactStore, a: AttemptLogInput, lines: AttemptLines): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    uploadAttemptLog(store, a, lines).catch(() => undefined),
    new Promise((r) => {
      timer = setTimeout(r, 30_000);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The run record with each stage run's attempt logs of this run attached (read from the log indexes). */
export async function attachAttemptLogs(store: ArtifactStore, record: RunRecord): Promise<RunRecord> {
  const all = await listAttemptLogs(store, record.runId).catch(() => []);
  if (all.length === 0) return record;
  const toRef = (i: AttemptLogIndex): AttemptLogRef => ({
    attempt: i.attempt,
    outcome: i.outcome,
    digest: i.digest,
    bytes: i.bytes,
    originalBytes: i.originalBytes,
    worker: i.worker,
    startedAt: i.startedAt,
    finishedAt: i.finishedAt,
  });
  return {
    ...record,
    stages: record.stages.map((s) => {
      const mine = all.filter((i) => i.stageRunId === s.id).map(toRef);
      return mine.length === 0 ? s : { ...s, logs: mine };
    }),
  };
}
