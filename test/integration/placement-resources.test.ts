/**
 * Placement by `resources` on the real Temporal dev server: two `robustok worker` processes (own
 * ROBUSTOK_HOME, one shared store) advertise what they offer; `run` fails fast with
 * RESOURCES_UNSATISFIABLE for a stage asking a GPU or more memory than they have, runs one asking
 * within it, and warns (instead of waiting silently) when nobody polls a stage's queue. A worker
 * given a stage it cannot host without `run`'s check (as a schedule firing would) refuses it at
 * once. Embedded, the in-process workers offer this machine.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { LocalDirStore } from '../../artifacts/local-store';
import { connectClient, connectWorker } from '../../cli/temporal-settings';
import { createWorker } from '../../cli/worker';
import { encodeIdentity, workerPlacement } from '../../cli/worker-directory';
import type { pipelineWorkflow } from '../../workflows/pipeline';
import { runCli, startCli, waitFor } from '../helpers/cli';
import { commandRun, planOf } from '../helpers/pipeline-harness';
import { testTemporal, tempDir } from '../helpers/servers';

const GiB = 2 ** 30;

/** A spec of one `command` stage on `queue` asking `resources` (YAML flow mapping). */
async function specFile(dir: string, name: string, resources: string, queue = 'cpu'): Promise<string> {
  const file = path.join(dir, `${name}.yaml`);
  await writeFile(
    file,
    `apiVersion: robustok.dev/v1
name: ${name}
defaults:
  retry: {maximumAttempts: 3, initialInterval: 200ms}
stages:
  train:
    kind: command
    queue: ${queue}
    resources: ${resources}
    config:
      argv: [node, -e, "require('fs').writeFileSync(process.argv[1], 'ok')", '\${outputs.out}']
      outputs: {out: out.txt}
`,
  );
  return file;
}

test('run checks stage resources against the live workers of the queue: fails fast when none can host, runs when one can', async () => {
  const t = await testTemporal();
  const dir = await tempDir('placement');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: t.address,
    TEMPORAL_NAMESPACE: t.namespace,
    ROBUSTOK_STORE: `file://${path.join(dir, 'store')}`,
    ROBUSTOK_QUEUE_PREFIX: `placement-${randomUUID().slice(0, 6)}-`,
    ROBUSTOK_HOME: await tempDir('placement-client'),
    ROBUSTOK_BACKEND: 'cpu',
  };
  const workers: { child: ChildProcess; polling: boolean; name: string }[] = [];
  // Two CPU hosts with 4 GiB each: one states it all, the other detects its GPUs (none here).
  for (const resources of ['gpus=0,memory=4GiB,cpus=2', 'memory=4GiB']) {
    const home = await tempDir('placement-host');
    const child = startCli(['worker', '--resources', resources, '--work-root', path.join(home, 'work')], { ...env, ROBUSTOK_HOME: home });
    const w = { child, polling: false, name: `${String(child.pid)}@${os.hostname()}` };
    let err = '';
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      if (/offers gpus 0, memory 4 GiB/.test(err)) w.polling = true;
    });
    workers.push(w);
  }
  try {
    await waitFor('both workers to poll', () => Promise.resolve(workers.every((w) => w.polling)), 120_000);

    const gpu = await runCli(['run', await specFile(dir, 'wants-gpu', '{gpus: 1}'), '--no-worker'], env, { timeoutMs: 90_000 });
    assert.equal(gpu.code, 1, gpu.stderr);
    assert.match(gpu.stderr, /error \[RESOURCES_UNSATISFIABLE\]: stage train asks gpus 1 on queue cpu, more than any live worker of that queue offers/);
    for (const w of workers) assert.match(gpu.stderr, new RegExp(`${w.name} offers gpus 0, memory 4 GiB, cpus \\S+ \\(short: gpus 1 > 0\\)`));
    assert.match(gpu.stderr, /Start a worker with more .*robustok worker --queue cpu --queue-prefix placement-/);
    assert.doesNotMatch(gpu.stderr, /^run /m, 'no run was started');
    console.log(`gpus: 1 with two CPU workers: exit ${String(gpu.code)} after ${gpu.ms} ms (CLI start included; load ${os.loadavg()[0]?.toFixed(1)})`);

    const tooBig = await runCli(['run', await specFile(dir, 'wants-8g', '{memory: 8GiB}'), '--no-worker'], env, { timeoutMs: 90_000 });
    assert.equal(tooBig.code, 1, tooBig.stderr);
    assert.match(tooBig.stderr, /RESOURCES_UNSATISFIABLE.*asks memory 8 GiB.*short: memory 8 GiB > 4 GiB/);

    const fits = await runCli(['run', await specFile(dir, 'wants-3g', '{memory: 3GiB, cpus: 1}'), '--no-worker', '--json'], env, { timeoutMs: 120_000 });
    assert.equal(fits.code, 0, fits.stderr);
    assert.doesNotMatch(fits.stderr, /warning/, 'a pool where every worker fits is not warned about');
    const record = JSON.parse(fits.stdout) as { stages: { id: string; outcome: string }[] };
    assert.deepEqual(
      record.stages.map((s) => [s.id, s.outcome]),
      [['train', 'ran']],
    );

    // Nobody polls `gpu` here: said at once, with the command that would serve it; the run then waits.
    const nowhere = startCli(['run', await specFile(dir, 'on-gpu', '{gpus: 1}', 'gpu'), '--no-worker'], env);
    let said = '';
    nowhere.stderr?.on('data', (b: Buffer) => (said += b.toString()));
    try {
      await waitFor('the no-worker warning', () => Promise.resolve(/warning: no live worker polls queue gpu/.test(said)), 60_000);
      assert.match(said, /its stages will wait until one starts \(robustok worker --queue gpu --queue-prefix placement-/);
    } finally {
      nowhere.kill('SIGKILL');
    }
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
  }
});

test('a worker refuses a stage it cannot host even when nothing checked before (a schedule firing): final when no peer can', async () => {
  const t = await testTemporal();
  const settings = { address: t.address, namespace: t.namespace };
  const clientConn = await connectClient(settings);
  const workerConn = await connectWorker(settings);
  const prefix = `guard-${randomUUID().slice(0, 6)}-`;
  const store = new LocalDirStore(await tempDir('guard-store'));
  const offer = { gpus: 0, memoryBytes: 2 * GiB, cpus: 1 };
  const identity = encodeIdentity([`${prefix}robustok`, `${prefix}cpu`], offer);
  const placement = workerPlacement({ service: workerConn.workflowService, namespace: t.namespace, prefix, identity, offer });
  const common = { connection: workerConn, namespace: t.namespace, store, shutdownGraceTime: '1s', identity, placement };
  const workers = [
    await createWorker({ ...common, taskQueue: `${prefix}robustok` }),
    await createWorker({ ...common, taskQueue: `${prefix}cpu`, workflows: false }),
  ];
  const running = workers.map((w) => w.run());
  try {
    const stage = {
      ...commandRun('big', { config: { argv: ['true'] }, outputs: [], maximumAttempts: 3 }),
      queue: `${prefix}cpu`,
      resources: { memory: '16GiB' },
    };
    const client = new Client({ connection: clientConn, namespace: t.namespace });
    const started = Date.now();
    const record = await client.workflow.execute<typeof pipelineWorkflow>('pipelineWorkflow', {
      taskQueue: `${prefix}robustok`,
      workflowId: `guard-${randomUUID()}`,
      args: [{ plan: planOf([stage]), runId: randomUUID(), storeUri: store.uri, controlQueue: `${prefix}robustok`, startedAt: new Date().toISOString() }],
    });
    const s = record.stages[0];
    assert.equal(s?.outcome, 'failed');
    assert.equal(s?.error?.code, 'RESOURCES_UNSATISFIABLE');
    assert.match(
      s?.error?.message ?? '',
      /stage big asks memory 16 GiB; worker \d+@\S+ on queue guard-\S+cpu offers gpus 0, memory 2 GiB, cpus 1 \(short: memory 16 GiB > 2 GiB\), and no other live worker/,
    );
    assert.equal(s?.attempts, 1, 'no retry: no other worker could host it');
    console.log(`worker-side refusal: stage failed after ${Date.now() - started} ms`);
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(running);
    await workerConn.close();
    await clientConn.close();
  }
});

test('embedded: the in-process workers offer this machine ($ROBUSTOK_WORKER_RESOURCES overrides) and run refuses a stage asking more', async () => {
  const dir = await tempDir('placement-embedded');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ROBUSTOK_HOME: dir,
    ROBUSTOK_STORE: `file://${path.join(dir, 'store')}`,
    ROBUSTOK_WORKER_RESOURCES: 'memory=1GiB',
  };
  delete env.TEMPORAL_ADDRESS;
  delete env.ROBUSTOK_QUEUE_PREFIX;
  const r = await runCli(['run', await specFile(dir, 'embedded', '{memory: 2GiB}')], env);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /started Temporal dev server/);
  assert.match(
    r.stderr,
    new RegExp(`RESOURCES_UNSATISFIABLE\\]: stage train asks memory 2 GiB on queue cpu, .*\\d+@${os.hostname()} offers gpus \\d+, memory 1 GiB`),
  );
});
