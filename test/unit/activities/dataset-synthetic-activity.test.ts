/**
 * dataset.synthetic through the real stage activity (MockActivityEnvironment, local stores): the
 * output directory is stored, the next lookup is a hit, and two independent stores end up with the
 * same output digest — the determinism every downstream cache key relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createStageActivities } from '../../../activities/stage-activities';
import { LocalDirStore } from '../../../artifacts/local-store';
import type { StageRun } from '../../../plan/types';

const RUN: StageRun = {
  id: 'data',
  stageId: 'data',
  kind: 'dataset.synthetic',
  version: '1',
  config: { imageSize: 16, numClasses: 3, trainPerClass: 4, valPerClass: 2 },
  inputs: {},
  outputs: ['dataset'],
  arms: [0],
  structuralKey: 'x',
  queue: 'cpu',
  resources: {},
  retry: { maximumAttempts: 1, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1s' },
  timeouts: { startToClose: '1m', heartbeat: '10s' },
  checkpointEvery: 0,
  deterministic: true,
  seed: 11,
};

function run<A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> {
  const mock = new MockActivityEnvironment({ attempt: 1, activityId: '1', workflowExecution: { workflowId: 'wf', runId: 'r1' } });
  return mock.run<[A], R, (a: A) => Promise<R>>(fn, a);
}

async function produce() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'synth-act-'));
  const store = new LocalDirStore(path.join(dir, 'store'));
  const acts = createStageActivities({ openStore: () => store, codeVersion: 'test', workRoot: path.join(dir, 'work') });
  const storeUri = store.uri;
  const miss = await run(acts.lookupStage, { storeUri, run: RUN, inputs: {} });
  assert.equal(miss.hit, false);
  const result = await run(acts.runStage, { storeUri, run: RUN, key: miss.key, material: miss.material, inputs: {}, runId: 'r' });
  const hit = await run(acts.lookupStage, { storeUri, run: RUN, inputs: {} });
  assert.equal(hit.hit, true);
  return { key: miss.key, output: result.outputs.dataset };
}

test('dataset.synthetic as a stage activity: stored, then a hit; the same digest from two independent stores', async () => {
  const [a, b] = [await produce(), await produce()];
  assert.equal(a.key, b.key);
  assert.equal(a.output?.type, 'dir');
  assert.equal(a.output?.type === 'dir' && 'files' in a.output ? a.output.files.length : 0, 3 * 6 + 1);
  assert.equal(a.output?.digest, b.output?.digest);
});
