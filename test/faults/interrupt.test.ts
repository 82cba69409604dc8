/**
 * Ctrl-C during `run` (issue 13, item 6), with real SIGINTs to the real CLI. Before: the CLI died
 * silently, the run went on with no hint, and `resume` then started a second workflow executing the
 * same stage concurrently. Now: the first Ctrl-C detaches (saying how to follow, resume or cancel),
 * a second one cancels; `resume` of a run that is still running attaches to it (hosting its workers)
 * instead of starting another; a run id can never be started twice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { connectClient } from '../../cli/temporal-settings';
import { cliEnv, fileLines, runCli, startCli, waitFor } from '../helpers/cli';
import { tempDir, testTemporal } from '../helpers/servers';

const STEP = path.resolve(__dirname, '..', 'fixtures', 'commands', 'step.js');

async function slowSpec(dir: string, sleepMs: number): Promise<{ spec: string; counter: string }> {
  const spec = path.join(dir, 'slow.yaml');
  const counter = path.join(dir, 'count');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: slow
defaults:
  retry: {maximumAttempts: 5, initialInterval: 200ms}
  timeouts: {heartbeat: 5s}
stages:
  s:
    kind: command
    config:
      argv: [node, ${STEP}, ${counter}, s, x, '\${outputs.out}']
      env: {STEP_SLEEP_MS: "${sleepMs}"}
      outputs: {out: out.txt}
`,
  );
  return { spec, counter };
}

async function client(): Promise<Client> {
  const t = await testTemporal();
  return new Client({ connection: await connectClient({ address: t.address, namespace: t.namespace }), namespace: t.namespace });
}

/** Starts `run`, waits for its stage program to start, returns the run id and the live process. */
async function startedRun(spec: string, counter: string, env: NodeJS.ProcessEnv) {
  const child = startCli(['run', spec, '--worker'], env);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor('the stage program to start', async () => (await fileLines(counter)).length > 0);
  const runId = /run (\S+):/.exec(stderr)?.[1];
  assert.ok(runId !== undefined, stderr);
  return { child, runId, exit, stderr: () => stderr };
}

test('first Ctrl-C detaches with the way to follow or cancel; resume attaches to the still-running run instead of starting another', async () => {
  const dir = await tempDir('faults-interrupt');
  const { spec, counter } = await slowSpec(dir, 4_000);
  const env = { ...(await cliEnv('interrupt-detach')), ROBUSTOK_DETACH_WINDOW_MS: '500' };
  const r = await startedRun(spec, counter, env);
  r.child.kill('SIGINT');
  assert.equal(await r.exit, 130);
  assert.match(
    r.stderr(),
    new RegExp(
      `Ctrl-C: detaching from run ${r.runId}.*Ctrl-C again to cancel.*robustok resume ${r.runId}.*robustok status ${r.runId} --watch.*robustok cancel ${r.runId}`,
    ),
  );
  assert.match(r.stderr(), /detached from run/);
  const c = await client();
  const handle = c.workflow.getHandle(`run-${r.runId}`);
  assert.equal((await handle.describe()).status.name, 'RUNNING', 'detaching left the run going');

  const resumed = await runCli(['resume', r.runId, '--worker'], env);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /is still running: attaching to it/);
  assert.match(resumed.stdout, new RegExp(`run ${r.runId} \\(slow\\): succeeded`), 'the same run finished; no second run was started');
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
  // The interrupted attempt was stopped by its worker's shutdown; the attached worker ran the next.
  assert.ok((await fileLines(counter)).length <= 3);

  // One workflow per run id: starting it again is refused by the server.
  await assert.rejects(
    c.workflow.start('pipelineWorkflow', {
      taskQueue: 'nowhere',
      workflowId: `run-${r.runId}`,
      args: [],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
    }),
    WorkflowExecutionAlreadyStartedError,
  );
});

test('a second Ctrl-C cancels the run: the stage program is stopped and the workflow ends cancelled', async () => {
  const dir = await tempDir('faults-interrupt');
  const { spec, counter } = await slowSpec(dir, 60_000);
  const env = { ...(await cliEnv('interrupt-cancel')), ROBUSTOK_DETACH_WINDOW_MS: '10000' };
  const r = await startedRun(spec, counter, env);
  r.child.kill('SIGINT');
  await waitFor('the detach hint', () => Promise.resolve(r.stderr().includes('Ctrl-C again')), 5_000);
  r.child.kill('SIGINT');
  assert.equal(await r.exit, 130);
  assert.match(r.stderr(), new RegExp(`cancelling run ${r.runId}`));
  assert.match(r.stderr(), new RegExp(`run ${r.runId}: cancelled`));
  const c = await client();
  assert.equal((await c.workflow.getHandle(`run-${r.runId}`).describe()).status.name, 'CANCELLED');
  assert.deepEqual(await fileLines(counter), ['s'], 'the stage ran once and was not retried');
});
