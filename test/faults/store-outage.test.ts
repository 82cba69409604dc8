/**
 * Fault: MinIO goes away while a stage that has finished its work uploads the outputs. Simulated
 * with a real pause of a private MinIO server started by this file (SIGSTOP … SIGCONT of its
 * process: connections are still accepted by the kernel but never answered, the nastiest form of
 * an outage). Before the fix a request to a paused server hung (no timeout), retries were spent
 * in seconds, and every retried attempt ran the stage again. Now a request silent for
 * `requestTimeoutMs` is retried with backoff and jitter for up to the retry budget
 * (ROBUSTOK_STORE_RETRY_MAX; shortened here), the attempt heartbeats meanwhile, and when the
 * budget is spent the next attempt uploads the outputs the first one left in its workdir instead
 * of recomputing them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { blobKey } from '../../artifacts/cas';
import { manifestKey, type Manifest } from '../../artifacts/manifest';
import { MinioStore } from '../../artifacts/minio-store';
import { backoffMs, retryPolicyFromEnv } from '../../artifacts/store-retry';
import { startMinioServer, type MinioServer } from '../../infra/minio-server';
import { commandRun, pipelineHarness, planOf, type Harness } from '../helpers/pipeline-harness';
import { tempDir, uniqueBucket } from '../helpers/servers';

const FINISH = path.resolve(__dirname, '..', 'fixtures', 'commands', 'finish-then-signal.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let minio: MinioServer;
before(async () => {
  // Private: pausing the shared test server would stall every other test file.
  minio = await startMinioServer({ dataDir: await tempDir('outage-minio') });
  const child = minio.process.child;
  process.on('exit', () => child.kill('SIGKILL'));
});
after(async () => {
  minio.process.child.kill('SIGCONT');
  await minio.stop();
});

async function harnessWith(maxMs: number): Promise<{ harness: Harness; store: MinioStore }> {
  const store = new MinioStore({
    endpoint: minio.endpoint,
    accessKey: minio.accessKey,
    secretKey: minio.secretKey,
    bucket: uniqueBucket('outage'),
    prefix: 'p',
    retry: { maxMs, baseMs: 200, capMs: 1_000 },
    requestTimeoutMs: 1_000,
  });
  return { harness: await pipelineHarness(store), store };
}

/** Pauses MinIO for `ms` as soon as the stage program has written its outputs. */
async function pauseAfter(sentinel: string, ms: number): Promise<{ pausedMs: number }> {
  while (!existsSync(sentinel)) await sleep(10);
  const pid = minio.process.child.pid;
  assert.ok(pid !== undefined);
  process.kill(pid, 'SIGSTOP');
  const t0 = Date.now();
  await sleep(ms);
  process.kill(pid, 'SIGCONT');
  return { pausedMs: Date.now() - t0 };
}

async function scenario(retryMaxMs: number, pauseMs: number) {
  const { harness, store } = await harnessWith(retryMaxMs);
  try {
    const dir = await tempDir('outage');
    const counter = path.join(dir, 'count.txt');
    const sentinel = path.join(dir, 'finished');
    const text = `work-${randomUUID()}`;
    const run = commandRun('work', {
      config: { argv: ['node', FINISH, counter, sentinel, '${outputs.out}', text], outputs: { out: 'out.txt' } },
      outputs: ['out'],
      maximumAttempts: 10,
    });
    const [record, pause] = await Promise.all([harness.run(planOf([run])), pauseAfter(sentinel, pauseMs)]);
    const stage = record.stages[0];
    assert.equal(record.outcome, 'succeeded', JSON.stringify(record.stages));
    assert.equal(stage?.outcome, 'ran');
    assert.equal((await readFile(counter, 'utf8')).split('\n').filter(Boolean).length, 1, 'the stage program ran once');
    // What was stored is what the program wrote.
    const manifest = JSON.parse((await store.getBytes(manifestKey(stage.key ?? ''))).toString('utf8')) as Manifest;
    const out = manifest.outputs.out;
    assert.equal(out?.type, 'file');
    assert.equal((await store.getBytes(blobKey(out.digest))).toString('utf8'), `${text}\n`.repeat(1000));
    return { attempts: stage.attempts, pausedMs: pause.pausedMs, durationMs: stage.durationMs };
  } finally {
    await harness.close();
  }
}

test('retry policy: ROBUSTOK_STORE_RETRY_MAX is a duration (default 5m, 0 = off); backoff doubles to a cap, with jitter', () => {
  assert.equal(retryPolicyFromEnv({}).maxMs, 300_000);
  assert.equal(retryPolicyFromEnv({ ROBUSTOK_STORE_RETRY_MAX: '90s' }).maxMs, 90_000);
  assert.equal(retryPolicyFromEnv({ ROBUSTOK_STORE_RETRY_MAX: '0' }).maxMs, 0);
  assert.throws(() => retryPolicyFromEnv({ ROBUSTOK_STORE_RETRY_MAX: 'forever' }), /ROBUSTOK_STORE_RETRY_MAX=forever is not a duration/);
  const p = { maxMs: 300_000, baseMs: 500, capMs: 30_000 };
  assert.deepEqual(
    [0, 1, 2, 10].map((n) => backoffMs(n, p, () => 0)),
    [250, 500, 1_000, 15_000],
  );
  assert.deepEqual(
    [0, 1, 2, 10].map((n) => backoffMs(n, p, () => 1)),
    [500, 1_000, 2_000, 30_000],
  );
});

test('a MinIO pause during the upload is waited out by the attempt itself: one attempt, the program ran once', async () => {
  const r = await scenario(60_000, 8_000);
  assert.ok(r.pausedMs >= 8_000);
  assert.equal(r.attempts, 1, 'the attempt survived the outage');
  assert.ok(r.durationMs >= 8_000, `the stage waited for the store (${r.durationMs} ms)`);
});

test('an outage longer than the retry budget fails the attempt; the next one uploads the kept outputs instead of recomputing', async () => {
  const r = await scenario(1_500, 6_000);
  assert.ok(r.attempts >= 2, `attempts: ${r.attempts}`);
});
