/**
 * The stage-runner activities under MockActivityEnvironment (no Temporal server): commit on
 * success, cache hit afterwards, fencing of a zombie attempt, and non-deterministic stages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { createStageActivities } from '../../../activities/stage-activities';
import { takeLease } from '../../../artifacts/lease';
import { LocalDirStore } from '../../../artifacts/local-store';
import { manifestKey } from '../../../artifacts/manifest';
import type { StageRun } from '../../../plan/types';

const STEP = path.resolve(__dirname, '..', '..', 'fixtures', 'commands', 'step.js');

async function setup() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stage-acts-'));
  const store = new LocalDirStore(path.join(dir, 'store'));
  const acts = createStageActivities({ openStore: () => store, codeVersion: 'test', workRoot: path.join(dir, 'work') });
  const run = (over: Partial<StageRun> & { env?: Record<string, string> } = {}): StageRun => ({
    id: 's',
    stageId: 's',
    kind: 'command',
    version: '1',
    config: { argv: ['node', STEP, path.join(dir, 'count.txt'), 's', 'hello', '${outputs.out}'], outputs: { out: 'o.txt' }, env: over.env ?? {} },
    inputs: {},
    outputs: ['out'],
    arms: [0],
    structuralKey: 'x',
    queue: 'cpu',
    resources: {},
    retry: { maximumAttempts: 1, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1s' },
    timeouts: { startToClose: '1m', heartbeat: '10s' },
    checkpointEvery: 0,
    deterministic: true,
    seed: 0,
    ...over,
  });
  return { store, acts, run, storeUri: store.uri };
}

/** Runs one activity as attempt `attempt` of activity 7 of workflow wf/r1 (typed: MockActivityEnvironment.run is not). */
const env = (attempt: number) => ({
  run<A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> {
    const mock = new MockActivityEnvironment({ attempt, activityId: '7', workflowExecution: { workflowId: 'wf', runId: 'r1' } });
    return mock.run<[A], R, (a: A) => Promise<R>>(fn, a);
  },
});

test('runStage commits outputs then the manifest; the next lookup is a verified hit', async () => {
  const { store, acts, run, storeUri } = await setup();
  const miss = await env(1).run(acts.lookupStage, { storeUri, run: run(), inputs: {} });
  assert.equal(miss.hit, false);
  const result = await env(1).run(acts.runStage, { storeUri, run: run(), key: miss.key, material: miss.material, inputs: {}, runId: 'r' });
  assert.equal(result.outputs.out?.bytes, Buffer.byteLength('hello\n'));
  assert.ok(await store.stat(manifestKey(miss.key)));
  const hit = await env(1).run(acts.lookupStage, { storeUri, run: run(), inputs: {} });
  assert.equal(hit.hit, true);
  assert.equal(hit.key, miss.key);
});

test('a zombie attempt that lost its lease fails with FENCED and commits nothing', async () => {
  const { store, acts, run, storeUri } = await setup();
  const slow = run({ env: { STEP_SLEEP_MS: '1500' } });
  const lookup = await env(1).run(acts.lookupStage, { storeUri, run: slow, inputs: {} });
  const zombie = env(1).run(acts.runStage, { storeUri, run: slow, key: lookup.key, material: lookup.material, inputs: {}, runId: 'r' });
  // While attempt 1 sleeps, its successor (attempt 2 of the same activity) takes the lease.
  await new Promise((r) => setTimeout(r, 600));
  await takeLease(store, lookup.key, { execution: 'wf/r1/7', attempt: 2, token: 'successor', worker: 'other', at: new Date().toISOString() });
  await assert.rejects(
    zombie,
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'FENCED' && e.nonRetryable && /lost its lease to attempt 2/.test(e.message),
  );
  assert.equal(await store.stat(manifestKey(lookup.key)), undefined);
});

test('a later attempt starting after a newer one took over is fenced at once', async () => {
  const { store, acts, run, storeUri } = await setup();
  const lookup = await env(1).run(acts.lookupStage, { storeUri, run: run(), inputs: {} });
  await takeLease(store, lookup.key, { execution: 'wf/r1/7', attempt: 3, token: 't3', worker: 'w', at: new Date().toISOString() });
  await assert.rejects(
    env(2).run(acts.runStage, { storeUri, run: run(), key: lookup.key, material: lookup.material, inputs: {}, runId: 'r' }),
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'FENCED',
  );
});

test('a non-deterministic stage is never a hit', async () => {
  const { acts, run, storeUri } = await setup();
  const r = run({ deterministic: false });
  const first = await env(1).run(acts.lookupStage, { storeUri, run: r, inputs: {} });
  await env(1).run(acts.runStage, { storeUri, run: r, key: first.key, material: first.material, inputs: {}, runId: 'r' });
  const again = await env(1).run(acts.lookupStage, { storeUri, run: r, inputs: {} });
  assert.deepEqual({ hit: again.hit, reason: again.hit ? undefined : again.reason }, { hit: false, reason: 'nondeterministic' });
});

test('an invalid config fails without retry (CONFIG_INVALID is non-retryable)', async () => {
  const { acts, run, storeUri } = await setup();
  const bad = run({ config: { argv: [] } });
  await assert.rejects(
    env(1).run(acts.runStage, {
      storeUri,
      run: bad,
      key: 'k'.repeat(64),
      material: { kind: 'command', version: '1', config: {}, inputDigests: {}, seed: 0 },
      inputs: {},
      runId: 'r',
    }),
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'CONFIG_INVALID' && e.nonRetryable,
  );
});
