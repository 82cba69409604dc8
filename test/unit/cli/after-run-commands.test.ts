/**
 * The after-a-run commands in-process on a real local store: `get` refuses corrupt content without
 * touching dest, run names resolve by id, workflow id, unique prefix or `latest`, and a stage of
 * a sweep must be named by its run id when the stage has several.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blobKey, putBlob } from '../../../artifacts/cas';
import { LocalDirStore } from '../../../artifacts/local-store';
import type { RunRecord, StageRunRecord } from '../../../core/run-record';
import { getCommand } from '../../../cli/commands/get';
import { bestMetric } from '../../../cli/commands/runs-list';
import { findStageRun, resolveRun } from '../../../cli/run-history';

const stage = (id: string, outputs: StageRunRecord['outputs'] = {}, arms = [0]): StageRunRecord => ({
  id,
  stageId: id.split('#')[0] ?? id,
  arms,
  kind: 'command',
  key: 'k'.repeat(64),
  outcome: 'ran',
  attempts: 1,
  durationMs: 1,
  outputs,
  metrics: {},
});
const record = (runId: string, startedAt: string, stages: StageRunRecord[], arms: RunRecord['arms'] = []): RunRecord => ({
  schema: 'robustok.dev/run-record/v1',
  runId,
  name: 'p',
  startedAt,
  finishedAt: startedAt,
  outcome: 'succeeded',
  stages,
  arms,
});

async function setup() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'after-run-cmds-'));
  const store = new LocalDirStore(path.join(dir, 'store'));
  const b = await putBlob(store, 'the good bytes');
  await store.put(
    'records/p-20260101-aaaaaa.json',
    JSON.stringify(record('p-20260101-aaaaaa', '2026-01-01T00:00:00Z', [stage('make', { out: { type: 'file', digest: b.digest, bytes: b.bytes } })])),
  );
  await store.put(
    'records/p-20260201-bbbbbb.json',
    JSON.stringify(record('p-20260201-bbbbbb', '2026-02-01T00:00:00Z', [stage('train#aaaa1111', {}, [0]), stage('train#bbbb2222', {}, [1])])),
  );
  return { dir, store, root: path.join(dir, 'store'), blob: b };
}

test('get: a corrupt blob fails with DIGEST_MISMATCH and leaves neither dest nor a temporary behind', async () => {
  const { dir, store, root, blob } = await setup();
  await writeFile(path.join(root, ...blobKey(blob.digest).split('/')), 'the BAD! bytes');
  const dest = path.join(dir, 'out', 'x.txt');
  await assert.rejects(getCommand('p-20260101', 'make.out', dest, { store: store.uri }), /DIGEST_MISMATCH|reads as sha256/);
  assert.deepEqual(await readdir(path.dirname(dest)), []);
});

test('run names: exact, run-<id>, unique prefix, latest; ambiguous and unknown names list what exists', async () => {
  const { store } = await setup();
  assert.equal((await resolveRun(store, 'p-20260101-aaaaaa')).runId, 'p-20260101-aaaaaa');
  assert.equal((await resolveRun(store, 'run-p-20260101-aaaaaa')).runId, 'p-20260101-aaaaaa');
  assert.equal((await resolveRun(store, 'p-202602')).runId, 'p-20260201-bbbbbb');
  assert.equal((await resolveRun(store, 'latest')).runId, 'p-20260201-bbbbbb');
  await assert.rejects(resolveRun(store, 'p-2026'), /run 'p-2026' is ambiguous in .*: p-20260101-aaaaaa, p-20260201-bbbbbb/);
  await assert.rejects(resolveRun(store, 'q'), /no finished run 'q' in .* \(2 run records; list them with 'robustok runs'/);
});

test('a stage split by a sweep is named by its run id; the bare stage id lists the choices', async () => {
  const { store } = await setup();
  const r = await resolveRun(store, 'latest');
  assert.equal(findStageRun(r, 'train#bbbb2222').arms[0], 1);
  assert.throws(() => findStageRun(r, 'train'), /stage 'train' has 2 runs .*: name one of train#aaaa1111 \[arms 0\], train#bbbb2222 \[arms 1\]/);
});

test('best metric: the lowest FID over the arms, marked when the FID network was random', () => {
  const r = record(
    'x',
    '2026-01-01T00:00:00Z',
    [],
    [
      { index: 0, label: 'sigma=0.1', outcome: 'succeeded', metrics: { 'fid.fid': 30, 'fid.weightsDigest': 'random-init:seed=0' } },
      { index: 1, label: 'sigma=0.7', outcome: 'succeeded', metrics: { 'fid.fid': 20, 'fid.weightsDigest': 'random-init:seed=0', 'train.loss': 0.1 } },
    ],
  );
  assert.deepEqual(bestMetric(r), { metric: 'fid.fid', value: 20, arm: 'sigma=0.7', comparable: false });
  assert.equal(bestMetric(record('y', '', [])), undefined);
});
