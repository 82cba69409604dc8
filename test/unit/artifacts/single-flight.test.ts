/**
 * The single-flight rule on a real local store: the earliest live claim of another execution owns a
 * key and later attempts wait for its manifest; a claim that goes stale (its worker died) or belongs to
 * this attempt's own execution never blocks; markers without an execution (older workers) are ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { keepAlive, type AliveMarker } from '../../../artifacts/liveness';
import { awaitInFlight } from '../../../artifacts/single-flight';
import { manifestKey } from '../../../artifacts/manifest';
import { LocalDirStore } from '../../../artifacts/local-store';

const KEY = 'a'.repeat(64);
const fast = { settleMs: 10, pollMs: 20 };

async function store(): Promise<LocalDirStore> {
  return new LocalDirStore(await mkdtemp(path.join(os.tmpdir(), 'single-flight-')));
}

async function marker(s: LocalDirStore, token: string, m: Partial<AliveMarker>): Promise<void> {
  await s.put(`runs/${KEY}/alive/${token}.json`, JSON.stringify({ attempt: 1, worker: 'w', at: new Date().toISOString(), token, ...m }));
}

/** A manifest; `missingBlob` makes it one whose output blob is gone (what a lookup rejects as corrupt). */
async function manifest(s: LocalDirStore, host = 'owner', missingBlob = false): Promise<void> {
  const outputs = missingBlob ? { out: { type: 'file', digest: 'b'.repeat(64), bytes: 3 } } : {};
  await s.put(
    manifestKey(KEY),
    JSON.stringify({ schema: 'robustok.dev/manifest/v1', key: KEY, outputs, metrics: { n: 1 }, attempt: 1, host, finishedAt: new Date().toISOString() }),
  );
}

test('an earlier claim of another execution owns the key: the later attempt waits for its manifest', async () => {
  const s = await store();
  await marker(s, 'owner', { execution: 'run-a/act', since: '2026-01-01T00:00:00.000Z' });
  const waits: string[] = [];
  const p = awaitInFlight(s, KEY, { execution: 'run-b/act', token: 'me', since: '2026-01-01T00:00:01.000Z', onWait: (o) => waits.push(o.worker), ...fast });
  await new Promise((r) => setTimeout(r, 100));
  await manifest(s);
  const got = await p;
  assert.equal(got?.host, 'owner');
  assert.ok(waits.length > 0, 'it waited (heartbeating) before the manifest appeared');
});

test('a later claim, our own execution, a marker of an old worker, or a stale one does not block', async () => {
  const s = await store();
  await marker(s, 'later', { execution: 'run-c/act', since: '2026-01-01T00:00:05.000Z' });
  await marker(s, 'self', { execution: 'run-b/act', since: '2026-01-01T00:00:00.000Z' });
  await marker(s, 'old', {});
  await marker(s, 'stale', { execution: 'run-d/act', since: '2025-12-31T00:00:00.000Z', at: new Date(Date.now() - 60_000).toISOString() });
  const got = await awaitInFlight(s, KEY, {
    execution: 'run-b/act',
    token: 'me',
    since: '2026-01-01T00:00:01.000Z',
    onWait: () => assert.fail('must not wait'),
    ...fast,
  });
  assert.equal(got, undefined);
});

test('equal start times: the smaller token owns; the owner stops (no manifest) and the waiter computes', async () => {
  const s = await store();
  const since = '2026-01-01T00:00:00.000Z';
  await marker(s, 'aaa', { execution: 'run-a/act', since });
  let waited = 0;
  const p = awaitInFlight(s, KEY, { execution: 'run-b/act', token: 'bbb', since, onWait: () => (waited += 1), ...fast });
  await new Promise((r) => setTimeout(r, 100));
  await s.delete(`runs/${KEY}/alive/aaa.json`); // the owner failed: its marker is removed, no manifest
  assert.equal(await p, undefined);
  assert.ok(waited > 0);
  // and the other way round the rule does not wait
  assert.equal(await awaitInFlight(s, KEY, { execution: 'run-a/act', token: 'aaa', since, onWait: () => assert.fail('must not wait'), ...fast }), undefined);
});

test('keepAlive writes the execution and a stable start time', async () => {
  const s = await store();
  const stop = keepAlive(s, KEY, 'tok', { attempt: 2, worker: 'w1', execution: 'run-x/act' });
  await stop.written;
  const m = JSON.parse((await s.getBytes(`runs/${KEY}/alive/tok.json`)).toString('utf8')) as AliveMarker;
  assert.equal(m.execution, 'run-x/act');
  assert.equal(m.since, stop.since);
  assert.equal(m.token, 'tok');
  await stop();
});

test('a corrupt manifest present when the attempt starts is never joined; a valid one (committed since the lookup) is', async () => {
  const s = await store();
  await manifest(s, 'corrupt-old', true);
  assert.equal(
    await awaitInFlight(s, KEY, { execution: 'run-b/act', token: 'me', since: '2026-01-01T00:00:01.000Z', onWait: () => assert.fail('no owner'), ...fast }),
    undefined,
  );
  await marker(s, 'owner', { execution: 'run-a/act', since: '2026-01-01T00:00:00.000Z' });
  const p = awaitInFlight(s, KEY, { execution: 'run-b/act', token: 'me', since: '2026-01-01T00:00:01.000Z', onWait: () => undefined, ...fast });
  await new Promise((r) => setTimeout(r, 100));
  await manifest(s, 'owner-fresh');
  assert.equal((await p)?.host, 'owner-fresh');
  assert.equal(
    (
      await awaitInFlight(s, KEY, {
        execution: 'run-c/act',
        token: 'c',
        since: '2026-01-01T00:00:02.000Z',
        onWait: () => assert.fail('a valid manifest needs no wait'),
        ...fast,
      })
    )?.host,
    'owner-fresh',
  );
});
