/**
 * Attempt logs as workers store them: bounded (first 64 KiB + last 448 KiB, a marker between),
 * redacted, stderr last, indexed under logs/<run>/<stage>/ and attached to the run record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AttemptLines, attachAttemptLogs, uploadAttemptLog, type AttemptLogInput } from '../../../artifacts/attempt-log';
import { LOG_HEAD_BYTES, LOG_TAIL_BYTES, boundLog, listAttemptLogs, readAttemptLog } from '../../../artifacts/attempt-logs';
import { LocalDirStore } from '../../../artifacts/local-store';
import type { RunRecord } from '../../../core/run-record';

test('boundLog keeps short text as is and cuts the middle of long text', () => {
  const short = Buffer.from('abc');
  assert.equal(boundLog(short), short);
  const long = Buffer.alloc(LOG_HEAD_BYTES + LOG_TAIL_BYTES + 1000, 'x');
  long.write('HEAD', 0);
  long.write('TAIL', long.length - 4);
  const cut = boundLog(long).toString();
  assert.ok(cut.startsWith('HEAD') && cut.endsWith('TAIL'));
  assert.match(cut, /\[… 1000 bytes omitted: a stored log keeps its first 64 KiB and last 448 KiB …\]/);
  assert.ok(Buffer.byteLength(cut) < LOG_HEAD_BYTES + LOG_TAIL_BYTES + 200);
});

test('AttemptLines keeps the first lines and a window of the last ones', () => {
  const lines = new AttemptLines();
  for (let i = 0; i < 10_000; i++) lines.add('INFO', `line ${String(i).padStart(5, '0')} ${'y'.repeat(80)}`);
  const text = lines.text();
  assert.ok(Buffer.byteLength(text) <= LOG_HEAD_BYTES + LOG_TAIL_BYTES + 100);
  assert.match(text, /^\S+ INFO line 00000 /);
  assert.match(text, /INFO line 09999 y+\n$/);
  assert.match(text, /\[… \d+ lines omitted …\]/);
});

test('uploadAttemptLog: logger lines, stdout, then stderr; secrets redacted; indexed and attached to the record', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'attempt-log-'));
  const store = new LocalDirStore(path.join(dir, 'store'));
  const workdir = path.join(dir, 'work', 'attempt-1');
  await mkdir(path.join(workdir, '.logs'), { recursive: true });
  const secret = 'sup3r-s3cret-value-42';
  process.env.ATTEMPT_LOG_TEST_TOKEN = secret;
  try {
    await writeFile(path.join(workdir, '.logs', 'stdout.log'), `first stdout line\n${'z'.repeat(2 * 1024 * 1024)}\nlast stdout line ${secret}\n`);
    await writeFile(path.join(workdir, '.logs', 'stderr.log'), 'the error\n');
    const lines = new AttemptLines();
    lines.add('WARN', `loss went up (token ${secret})`);
    const a: AttemptLogInput = {
      runId: 'p-1',
      stageRunId: 'train#ab12cd34',
      stageId: 'train',
      kind: 'command',
      key: 'k'.repeat(64),
      attempt: 2,
      token: 'tok12345-rest',
      worker: 'host:1',
      workdir,
      startedAt: '2026-01-01T00:00:00.000Z',
      outcome: 'failed',
      error: { code: 'COMMAND_FAILED', message: `exit 1 ${secret}` },
    };
    const ref = await uploadAttemptLog(store, a, lines);
    assert.ok(ref.originalBytes > 2 * 1024 * 1024 && ref.bytes < LOG_HEAD_BYTES + LOG_TAIL_BYTES + 300, JSON.stringify(ref));

    assert.deepEqual(await store.list('logs/'), ['logs/p-1/train@ab12cd34/attempt-2-tok12345.json']);
    const [index] = await listAttemptLogs(store, 'p-1', 'train#ab12cd34');
    assert.equal(index?.stageRunId, 'train#ab12cd34');
    assert.equal(index?.error?.message, 'exit 1 ***');
    const text = await readAttemptLog(store, ref);
    assert.ok(!text.includes(secret));
    assert.match(text, /^# run p-1, stage train#ab12cd34 \(command\), attempt 2 on host:1\n/);
    assert.match(text, /== stage log ==\n\S+ WARN loss went up \(token \*\*\*\)\n\n== stdout ==\nfirst stdout line\n/);
    assert.match(text, /last stdout line \*\*\*\n\n== stderr ==\nthe error\n$/);

    const record = { runId: 'p-1', stages: [{ id: 'train#ab12cd34' }, { id: 'eval' }] } as unknown as RunRecord;
    const attached = await attachAttemptLogs(store, record);
    assert.deepEqual(attached.stages[0]?.logs, [ref]);
    assert.equal(attached.stages[1]?.logs, undefined);
  } finally {
    delete process.env.ATTEMPT_LOG_TEST_TOKEN;
  }
});
