/**
 * `robustok gc` on a real local store laid out by hand: what the newest N runs reference stays,
 * so do entries an unfinished run touched (a used-mark of a cache hit) and blobs a live attempt may
 * just have uploaded; old records, unused entries, checkpoints of finished entries, old debris and
 * failed workdirs go. The dry run deletes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { putBlob, blobKey } from '../../../artifacts/cas';
import { LocalDirStore } from '../../../artifacts/local-store';
import type { ArtifactStore } from '../../../artifacts/store';
import type { RunRecord, StageRunRecord } from '../../../core/run-record';
import { sha256Hex } from '../../../core/digest';
import { applyGc, planGc } from '../../../cli/store-gc';
import { applyWorkdirs, planWorkdirs } from '../../../cli/workdir-gc';

const HOUR = 3600_000;
const key = (c: string) => c.repeat(64);
const [K1, K2, K3, K4, K5, K6, K7] = ['1', '2', '3', '4', '5', '6', '7'].map(key) as [string, string, string, string, string, string, string];

async function blob(store: ArtifactStore, root: string, text: string, ageMs = 2 * HOUR) {
  const b = await putBlob(store, text);
  const t = new Date(Date.now() - ageMs);
  await utimes(path.join(root, ...blobKey(b.digest).split('/')), t, t);
  return b;
}

const stage = (id: string, k: string, outputs: StageRunRecord['outputs'], extra: Partial<StageRunRecord> = {}): StageRunRecord => ({
  id,
  stageId: id,
  arms: [0],
  kind: 'command',
  key: k,
  outcome: 'ran',
  attempts: 1,
  durationMs: 1,
  outputs,
  metrics: {},
  ...extra,
});
const record = (runId: string, startedAt: string, stages: StageRunRecord[]): RunRecord => ({
  schema: 'robustok.dev/run-record/v1',
  runId,
  name: 'p',
  startedAt,
  finishedAt: startedAt,
  outcome: 'succeeded',
  stages,
  arms: [],
});
const manifest = (k: string, outputs: object, log?: object) =>
  JSON.stringify({ schema: 'robustok.dev/manifest/v1', key: k, outputs, metrics: {}, ...(log ? { log } : {}) });
const lease = (runId: string, token: string, at: number) =>
  JSON.stringify({ execution: `run-${runId}/wfrun/1`, attempt: 1, token, worker: 'w', at: new Date(at).toISOString() });

async function layout() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'store-gc-'));
  const root = path.join(dir, 'store');
  const store = new LocalDirStore(root);
  const now = Date.now();
  const A = await blob(store, root, 'A: output of the old run');
  const logOld = await blob(store, root, 'log of the old run');
  const B = await blob(store, root, 'B: output of the new run');
  const C = await blob(store, root, 'C: an entry an unfinished run took as a cache hit');
  const D = await blob(store, root, 'D: an entry of a crashed run a month ago');
  const ck1 = await blob(store, root, 'checkpoint of a finished entry');
  const ck5a = await blob(store, root, 'older checkpoint of an unfinished entry');
  const ck5b = await blob(store, root, 'newest checkpoint of an unfinished entry');
  const garbage = await blob(store, root, 'referenced by nothing');
  const fresh = await blob(store, root, 'just uploaded by the live attempt', 0);
  const out = (b: { digest: string; bytes: number }) => ({ out: { type: 'file' as const, digest: b.digest, bytes: b.bytes } });
  const dirOut = (b: { digest: string; bytes: number }) => ({
    type: 'dir' as const,
    digest: 'd'.repeat(64),
    bytes: b.bytes,
    files: [{ path: 'x', digest: b.digest, bytes: b.bytes }],
  });

  await store.put(
    'records/old.json',
    JSON.stringify(
      record('old', '2026-01-01T00:00:00Z', [
        stage('s', K1, out(A), {
          logs: [{ attempt: 1, outcome: 'succeeded', ...logOld, originalBytes: logOld.bytes, worker: 'w', startedAt: '', finishedAt: '' }],
        }),
      ]),
    ),
  );
  await store.put(
    'records/new.json',
    JSON.stringify(record('new', '2026-02-01T00:00:00Z', [stage('s', K2, out(B)), stage('t', K5, {}, { outcome: 'failed' })])),
  );
  await store.put('records/by-name/p/latest.json', JSON.stringify({ runId: 'new' }));
  await store.put('plans/old.json', '{}');
  await store.put('plans/new.json', '{}');
  await store.put('plans/just-starting.json', '{}');
  await store.put('logs/old/s/attempt-1-aaaaaaaa.json', JSON.stringify({ schema: 'robustok.dev/attempt-log/v1', ...logOld, attempt: 1, stageRunId: 's' }));
  await store.put(`runs/${K1}/manifest.json`, manifest(K1, out(A), { ...logOld }));
  await store.put(`runs/${K2}/manifest.json`, manifest(K2, out(B)));
  await store.put(`runs/${K2}/checkpoints/attempt-1/step-1.json`, JSON.stringify(dirOut(ck1)));
  // The old run computed K2 once too: once its record goes, its lease must not make it look unfinished.
  await store.put(`runs/${K2}/leases/${sha256Hex('old').slice(0, 24)}.json`, lease('old', 'tok-old', now - 3 * HOUR));
  await store.put(`runs/${K2}/leases/${sha256Hex('new').slice(0, 24)}.json`, lease('new', 'tok-new', now - 2 * HOUR));
  await store.put(`runs/${K3}/manifest.json`, manifest(K3, out(C)));
  await store.put(`runs/${K3}/used/going.json`, JSON.stringify({ runId: 'going', at: new Date(now - HOUR).toISOString() }));
  await store.put(`runs/${K4}/manifest.json`, manifest(K4, out(D)));
  await store.put(`runs/${K4}/leases/${sha256Hex('x').slice(0, 24)}.json`, lease('crashed', 'tok-crashed', now - 30 * 24 * HOUR));
  await store.put(`runs/${K5}/checkpoints/attempt-1/step-1.json`, JSON.stringify(dirOut(ck5a)));
  await store.put(`runs/${K5}/checkpoints/attempt-2/step-2.json`, JSON.stringify(dirOut(ck5b)));
  // A live attempt of a run without a record: started an hour ago, marker refreshed now.
  await store.put(`runs/${K6}/leases/${sha256Hex('y').slice(0, 24)}.json`, lease('live', 'tok-live', now - HOUR));
  await store.put(`runs/${K6}/alive/tok-live.json`, JSON.stringify({ attempt: 1, worker: 'w', at: new Date(now).toISOString() }));
  // A newer marker names its execution and start itself (no lease needed to place it).
  await store.put(
    `runs/${K7}/alive/tok-live2.json`,
    JSON.stringify({ attempt: 1, worker: 'w', at: new Date(now).toISOString(), execution: 'run-live2/wfrun/3', since: new Date(now - HOUR / 2).toISOString() }),
  );
  await store.put('tmp/old-upload', 'half an upload');
  const t = new Date(now - 48 * HOUR);
  await utimes(path.join(root, 'tmp', 'old-upload'), t, t);
  await store.put('tmp/current-upload', 'an upload in progress');
  await store.put('quarantine/sha256/x-1-2', 'kept for a post-mortem');
  return { dir, root, store, blobs: { A, logOld, B, C, D, ck1, ck5a, ck5b, garbage, fresh } };
}

test('gc plan: keeps the newest run, in-flight entries and fresh uploads; collects the rest; --apply deletes exactly that', async () => {
  const { store, blobs } = await layout();
  const before = (await store.list('')).length;
  const plan = await planGc(store, 1);
  assert.deepEqual(plan.keptRuns, ['new']);
  assert.deepEqual(plan.removedRuns, ['old']);
  assert.deepEqual([...plan.inFlightRuns].sort(), ['going', 'live', 'live2']);
  assert.equal((await store.list('')).length, before, 'planning deletes nothing');
  const gone = (b: { digest: string }) => blobKey(b.digest);
  assert.deepEqual(
    plan.blobs.map((b) => b.key).sort(),
    [blobs.A, blobs.logOld, blobs.D, blobs.ck1, blobs.ck5a, blobs.garbage].map(gone).concat('tmp/old-upload').sort(),
  );
  assert.equal(plan.sparedBlobs, 1, 'the live attempt may have uploaded the fresh blob');
  assert.deepEqual(
    plan.objects.map((o) => o.key),
    [
      'logs/old/s/attempt-1-aaaaaaaa.json',
      'plans/old.json',
      'records/old.json',
      `runs/${K1}/manifest.json`,
      `runs/${K2}/checkpoints/attempt-1/step-1.json`,
      `runs/${K2}/leases/${sha256Hex('old').slice(0, 24)}.json`,
      `runs/${K4}/leases/${sha256Hex('x').slice(0, 24)}.json`,
      `runs/${K4}/manifest.json`,
      `runs/${K5}/checkpoints/attempt-1/step-1.json`,
    ],
  );
  const expected = plan.objects.reduce((n, o) => n + o.bytes, 0) + plan.blobs.reduce((n, b) => n + b.bytes, 0);
  assert.equal(plan.bytes.total, expected);
  assert.ok(expected > 0);

  const done = await applyGc(store, plan);
  assert.equal(done.bytes, expected);
  assert.equal(done.deleted, plan.objects.length + plan.blobs.length);
  for (const b of [blobs.B, blobs.C, blobs.ck5b, blobs.fresh]) assert.ok(await store.stat(blobKey(b.digest)), 'kept blob present');
  for (const k of [
    'records/new.json',
    'plans/new.json',
    'plans/just-starting.json',
    'records/by-name/p/latest.json',
    `runs/${K3}/manifest.json`,
    `runs/${K5}/checkpoints/attempt-2/step-2.json`,
    `runs/${K6}/alive/tok-live.json`,
    'tmp/current-upload',
    'quarantine/sha256/x-1-2',
  ]) {
    assert.ok(await store.stat(k), `${k} kept`);
  }
  assert.ok(await store.stat(`runs/${K2}/leases/${sha256Hex('new').slice(0, 24)}.json`), "the kept run's lease stays");
  const again = await planGc(store, 1);
  assert.deepEqual([again.objects.length, again.blobs.length], [0, 0], 'a second pass finds nothing');
  assert.deepEqual([...again.inFlightRuns].sort(), ['going', 'live', 'live2'], 'the removed run does not come back as unfinished');
});

test('gc apply spares a blob rewritten after the plan (the same content uploaded again meanwhile)', async () => {
  const { store, blobs } = await layout();
  const plan = await planGc(store, 1);
  await new Promise((r) => setTimeout(r, 1_100));
  await putBlob(store, 'referenced by nothing');
  const done = await applyGc(store, plan);
  assert.equal(done.spared, 1);
  assert.ok(await store.stat(blobKey(blobs.garbage.digest)));
});

test('gc apply refuses, deleting nothing, when a run took a cache hit or started an attempt after the plan', async () => {
  const { store } = await layout();
  const plan = await planGc(store, 0);
  const before = await store.list('');
  await store.put(`runs/${K1}/used/late-run.json`, JSON.stringify({ runId: 'late-run', at: new Date().toISOString() }));
  await assert.rejects(applyGc(store, plan), /a run touched the store while gc was planning \(runs\/1{64}\/used\/late-run\.json\); nothing was deleted/);
  assert.deepEqual(await store.list(''), [...before, `runs/${K1}/used/late-run.json`].sort());
  const replanned = await planGc(store, 0);
  assert.ok(replanned.inFlightRuns.includes('late-run') && !replanned.objects.some((o) => o.key === `runs/${K1}/manifest.json`), 'the entry it took is kept');
});

test('gc --keep-runs 0 with no unfinished run removes every record; keep-runs larger than the history keeps all', async () => {
  const { store } = await layout();
  const all = await planGc(store, 5);
  assert.deepEqual(all.removedRuns, []);
  assert.ok(!all.objects.some((o) => o.key.startsWith('records/')));
  const none = await planGc(store, 0);
  assert.deepEqual(none.keptRuns, []);
  assert.ok(
    none.objects.some((o) => o.key === 'records/by-name/p/latest.json'),
    'a latest pointer to a removed record goes too',
  );
});

test('workdirs: a quiet failed attempt of a finished stage goes; live, recent and unknown ones stay', async () => {
  const { dir, store } = await layout();
  const work = path.join(dir, 'work');
  const mk = async (k16: string, name: string, ageMs: number) => {
    const p = path.join(work, k16, name);
    await mkdir(path.join(p, '.logs'), { recursive: true });
    await writeFile(path.join(p, '.logs', 'stderr.log'), 'boom\n');
    const t = new Date(Date.now() - ageMs);
    for (const f of [path.join(p, '.logs', 'stderr.log'), path.join(p, '.logs'), p]) await utimes(f, t, t);
    return p;
  };
  const failed = await mk(K2.slice(0, 16), 'attempt-1-aaaa', 2 * HOUR);
  const live = await mk(K6.slice(0, 16), 'attempt-1-bbbb', 2 * HOUR);
  const recent = await mk(K5.slice(0, 16), 'attempt-2-cccc', 60_000);
  const unknown = await mk('f'.repeat(16), 'attempt-1-dddd', 2 * HOUR);
  const plan = await planWorkdirs(store, work);
  assert.deepEqual(
    plan.remove.map((r) => r.path),
    [failed],
  );
  assert.equal(plan.bytes, 5);
  assert.deepEqual(Object.fromEntries(plan.kept.map((k) => [k.path, k.why])), {
    [live]: 'an attempt of its stage is running',
    [recent]: 'changed in the last 10 minutes',
    [unknown]: 'its stage is not in this store',
  });
  const done = await applyWorkdirs(plan);
  assert.deepEqual(done, { removed: 1, bytes: 5 });
  assert.deepEqual((await readdir(work)).sort(), [K5.slice(0, 16), K6.slice(0, 16), 'f'.repeat(16)].sort(), 'the emptied group folder goes too');
});
