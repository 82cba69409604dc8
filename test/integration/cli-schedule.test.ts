/**
 * `robustok schedule` against the real Temporal dev server: create (interval, overlap policy, --set),
 * list, trigger now → the pipeline workflow `run` starts completes on a `robustok worker` and its
 * record shows in `robustok runs`; pause/unpause; delete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { openStore } from '../../artifacts/open-store';
import { listRunRecords } from '../../cli/run-history';
import { ROOT, cliEnv, fileLines, parseJson, runCli, startCli, waitFor } from '../helpers/cli';
import { tempDir, testTemporal } from '../helpers/servers';

const STEP = path.join(ROOT, 'test', 'fixtures', 'commands', 'step.js');

interface Listed {
  schedules: { id: string; pipeline: string; when: string[]; overlap: string; paused: boolean; sets: string[]; recent: { workflowId: string }[] }[];
}

test('schedule create → trigger runs the pipeline on a worker → runs lists it; list, pause, unpause, delete', async () => {
  const dir = await tempDir('sched');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'pipeline.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: sched-test
defaults: {queue: cpu}
stages:
  hello:
    kind: command
    deterministic: false
    config:
      argv: [node, ${STEP}, ${counter}, '\${params.word}', hello, '\${outputs.out}']
      params: {word: plain}
      outputs: {out: hello.txt}
`,
  );
  const env = await cliEnv('sched');
  const id = `${env.ROBUSTOK_QUEUE_PREFIX ?? ''}nightly`;
  const worker = startCli(['worker'], env);
  const t = await testTemporal();
  const connection = await Connection.connect({ address: t.address });
  const handle = new Client({ connection, namespace: t.namespace }).schedule.getHandle(id);
  try {
    const created = await runCli(
      ['schedule', 'create', spec, '--id', id, '--every', '24h', '--overlap', 'buffer-one', '--set', 'stages.hello.config.params.word=scheduled', '--json'],
      env,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual(parseJson<{ when: string[]; overlap: string }>(created).overlap, 'buffer-one');

    // CLI start-up is seconds on a loaded machine: independent calls run side by side.
    const [again, trigger] = await Promise.all([
      runCli(['schedule', 'create', spec, '--id', id, '--every', '24h'], env),
      runCli(['schedule', 'trigger', id, '--json'], env),
    ]);
    assert.equal(again.code, 2, 'an existing id is refused without --replace');
    assert.match(again.stderr, /--replace/);
    const fired = parseJson<{ workflowId: string | null }>(trigger);
    // Temporal appends the firing time to the action's workflow id: one workflow per firing.
    assert.match(fired.workflowId ?? '', new RegExp(`^run-${id}-\\d{4}-\\d\\d-\\d\\dT`));

    // The records `robustok runs` lists (read in-process: polling through the CLI costs a start-up per look).
    const store = openStore(env.ROBUSTOK_STORE ?? '', env);
    // Pausing stops future firings only: it runs while the triggered run finishes.
    const [paused] = await Promise.all([
      runCli(['schedule', 'pause', id, '--note', 'maintenance'], env),
      waitFor('the scheduled run to finish and write its record', async () => (await listRunRecords(store)).some((r) => r.name === 'sched-test'), 60_000),
    ]);
    assert.equal(paused.code, 0, paused.stderr);
    const [run] = await listRunRecords(store);
    assert.equal(run?.outcome, 'succeeded');
    assert.equal(`run-${run?.runId ?? ''}`, fired.workflowId, "the run id is the firing's workflow id");
    assert.deepEqual(
      run?.stages.map((s) => s.outcome),
      ['ran'],
    );
    // The worker ran the plan made at create time, --set included.
    assert.deepEqual(await fileLines(counter), ['scheduled']);

    // A second firing is a second run with its own record.
    const second = parseJson<{ workflowId: string | null }>(await runCli(['schedule', 'trigger', id, '--json', '--overlap', 'allow-all'], env));
    assert.notEqual(second.workflowId, fired.workflowId);
    await waitFor("the second firing's record", async () => (await listRunRecords(store)).length === 2, 60_000);
    assert.deepEqual((await listRunRecords(store)).map((r) => `run-${r.runId}`).sort(), [fired.workflowId, second.workflowId].sort());
    const listed = parseJson<Listed>(await runCli(['schedule', 'list', '--json'], env));
    const mine = listed.schedules.find((s) => s.id === id);
    assert.equal(mine?.paused, true);
    assert.equal(mine?.pipeline, 'sched-test');
    assert.deepEqual(mine?.when, ['every 24h']);
    assert.equal(mine?.overlap, 'buffer-one');
    assert.deepEqual(mine?.sets, ['stages.hello.config.params.word=scheduled']);
    assert.ok(mine?.recent.some((r) => r.workflowId === fired.workflowId));

    assert.equal((await runCli(['schedule', 'unpause', id], env)).code, 0);
    assert.equal((await handle.describe()).state.paused, false);

    assert.equal((await runCli(['schedule', 'delete', id], env)).code, 0);
    await assert.rejects(handle.describe(), ScheduleNotFoundError);
  } finally {
    worker.kill('SIGTERM');
    await handle.delete().catch(() => undefined);
    await connection.close();
  }
});
