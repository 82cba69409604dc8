/**
 * Child process of test/unit/compute/native-threads.test.ts: TensorFlow sizes its pools once per process,
 * so each thread count needs its own process. Starts the native backend (ROBUSTOK_THREADS from the
 * environment), runs a matmul so the pools exist, counts this process's OS threads, then commits a command
 * stage through the stage activities with the worker's backend record (cli/worker.ts passes
 * recordedBackend()) and prints the manifest's `backend` field.
 *
 * stdout: last line {tasks, manifestBackend}
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createStageActivities } from '../../activities/stage-activities';
import type { LookupResult } from '../../activities/stage-contract';
import { LocalDirStore } from '../../artifacts/local-store';
import { lookupManifest } from '../../artifacts/manifest';
import { initBackend } from '../../compute/backend';
import { recordedBackend } from '../../compute/backend-state';
import type { Json } from '../../core/canonical-json';
import type { StageRun } from '../../plan/types';

async function main(): Promise<void> {
  await initBackend({ backend: 'tensorflow', log: null });
  const a = tf.ones([256, 256]);
  const b = tf.matMul(a, a);
  b.dataSync(); // a kernel large enough to be sharded over the intra-op pool
  tf.dispose([a, b]);
  const tasks = readdirSync('/proc/self/task').length;

  const dir = await mkdtemp(path.join(os.tmpdir(), 'native-threads-'));
  try {
    const store = new LocalDirStore(path.join(dir, 'store'));
    const acts = createStageActivities({
      openStore: () => store,
      codeVersion: 'test',
      workRoot: path.join(dir, 'work'),
      backend: () => recordedBackend() as unknown as Json,
    });
    const script = path.join(dir, 'write.js');
    await writeFile(script, "require('node:fs').writeFileSync(process.argv[2], 'x\\n');\n");
    const run: StageRun = {
      id: 's',
      stageId: 's',
      kind: 'command',
      version: '1',
      config: { argv: ['node', script, '${outputs.out}'], outputs: { out: 'o.txt' }, env: {} },
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
    };
    // MockActivityEnvironment.run is untyped in its result: typed here as the stage-activities test does.
    const inActivity = <A, R>(fn: (a: A) => Promise<R>, a: A): Promise<R> =>
      new MockActivityEnvironment({ attempt: 1, activityId: '1', workflowExecution: { workflowId: 'wf', runId: 'r1' } }).run<[A], R, (a: A) => Promise<R>>(
        fn,
        a,
      );
    const storeUri = store.uri;
    const lookup: LookupResult = await inActivity(acts.lookupStage, { storeUri, run, inputs: {} });
    await inActivity(acts.runStage, { storeUri, run, key: lookup.key, material: lookup.material, inputs: {}, runId: 'r' });
    const found = await lookupManifest(store, lookup.key, { verify: false });
    if (found.state !== 'hit') throw new Error(`no manifest written (${found.state})`);
    console.log(JSON.stringify({ tasks, manifestBackend: found.manifest.backend ?? null }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
