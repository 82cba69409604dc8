/**
 * A worker killed (SIGKILL) in the middle of a stage: the stage's heartbeat times out, Temporal
 * retries it on another worker, and the run completes. While the killed attempt is dead, the store
 * holds no manifest for the stage, so nothing half-written is ever a cache hit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, cliEnv, fileLines, parseJson, runCli, startCli, waitFor } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const STEP = path.join(ROOT, 'test', 'fixtures', 'commands', 'step.js');

test('killing the worker during a stage: retried on another worker, run completes, no partial hit', async () => {
  const dir = await tempDir('kill');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'pipeline.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: kill-test
defaults:
  queue: cpu
  retry: {maximumAttempts: 3, initialInterval: 200ms}
  timeouts: {startToClose: 5m, heartbeat: 4s}
stages:
  first:
    kind: command
    config:
      argv: [node, ${STEP}, ${counter}, first, one, '\${outputs.out}']
      outputs: {out: first.txt}
  slow:
    kind: command
    inputs: {x: first.out}
    config:
      argv: [node, ${STEP}, ${counter}, slow, two, '\${outputs.out}', '\${inputs.x}']
      env: {STEP_SLEEP_MS: '6000'}
      outputs: {out: slow.txt}
`,
  );
  const env = await cliEnv('kill');
  // The submitting CLI runs no worker: two separate worker processes do the work.
  const workerA = startCli(['worker'], env);
  let workerB: ReturnType<typeof startCli> | undefined;
  const runP = runCli(['run', spec, '--no-worker', '--json'], env);
  try {
    const lines = () => fileLines(counter);
    await waitFor('the slow stage to start on worker A', async () => (await lines()).includes('slow'));
    workerA.kill('SIGKILL');
    // The killed attempt committed nothing: the stage is no cache hit (its liveness marker may still
    // read `running` for a few seconds, until it goes stale).
    const plan = parseJson<{ runs: { id: string; status: string }[] }>(await runCli(['plan', spec, '--json'], env));
    const status = Object.fromEntries(plan.runs.map((r) => [r.id, r.status]));
    assert.equal(status.first, 'cached');
    assert.ok(status.slow === 'running' || status.slow === 'will run', `slow is ${status.slow}`);
    workerB = startCli(['worker'], env);
    const run = await runP;
    assert.equal(run.code, 0, run.stderr);
    const record = parseJson<{ stages: { id: string; outcome: string; attempts: number }[] }>(run);
    const slow = record.stages.find((s) => s.id === 'slow');
    assert.equal(slow?.outcome, 'ran');
    assert.equal(slow?.attempts, 2, 'the second attempt (on worker B) finished the stage');
    assert.deepEqual(await lines(), ['first', 'slow', 'slow']);
  } finally {
    workerA.kill('SIGKILL');
    workerB?.kill('SIGTERM');
  }
});
