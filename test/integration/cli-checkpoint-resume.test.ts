/**
 * Mid-stage resume: a long stage checkpoints every step; its worker is killed part-way; the retry
 * on another worker starts from the newest checkpoint (not step 0) and the result equals an
 * uninterrupted run's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, cliEnv, fileLines, parseJson, runCli, startCli, waitFor } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const TRAIN = path.join(ROOT, 'test', 'fixtures', 'commands', 'train-steps.js');
const STEPS = 12;

test('a stage killed mid-way resumes from its last checkpoint on another worker', async () => {
  const dir = await tempDir('ckpt');
  const journal = path.join(dir, 'journal.txt');
  const spec = path.join(dir, 'pipeline.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: ckpt-test
defaults:
  retry: {maximumAttempts: 3, initialInterval: 200ms}
  timeouts: {startToClose: 5m, heartbeat: 4s}
stages:
  train:
    kind: command
    config:
      argv: [node, ${TRAIN}, '${STEPS}', '700', ${journal}, '\${outputs.result}']
      outputs: {result: result.txt}
`,
  );
  const env = await cliEnv('ckpt');
  const workerA = startCli(['worker'], env);
  let workerB: ReturnType<typeof startCli> | undefined;
  const runP = runCli(['run', spec, '--no-worker', '--json'], env);
  try {
    const journalLines = () => fileLines(journal);
    await waitFor('the stage to reach step 3', async () => (await journalLines()).includes('step 3'));
    // While it works, `plan` says so (from the attempt's liveness marker).
    const during = parseJson<{ runs: { id: string; status: string; why?: string }[] }>(await runCli(['plan', spec, '--json'], env));
    assert.equal(during.runs[0]?.status, 'running');
    assert.match(during.runs[0]?.why ?? '', /attempt 1 on /);
    await waitFor('the stage to reach step 6', async () => (await journalLines()).includes('step 6'));
    workerA.kill('SIGKILL');
    workerB = startCli(['worker'], env);
    const run = await runP;
    assert.equal(run.code, 0, run.stderr);
    const record = parseJson<{
      stages: { id: string; outcome: string; attempts: number; resumedFromStep: number | null; outputs: Record<string, { digest: string }> }[];
    }>(run);
    const train = record.stages.find((s) => s.id === 'train');
    assert.equal(train?.outcome, 'ran');
    assert.equal(train?.attempts, 2);
    const starts = (await journalLines()).filter((l) => l.startsWith('start')).map((l) => Number(l.split(' ')[1]));
    assert.equal(starts.length, 2);
    assert.equal(starts[0], 0);
    assert.equal(train?.resumedFromStep, starts[1], 'the run record says where the stage resumed');
    assert.ok((starts[1] ?? 0) >= 3, `second attempt resumed from step ${starts[1]}, not from 0`);
    // Same bytes as an uninterrupted run: sum of 1..12.
    const expected = `sum ${(STEPS * (STEPS + 1)) / 2}\n`;
    const { createHash } = await import('node:crypto');
    assert.equal(train?.outputs.result?.digest, createHash('sha256').update(expected).digest('hex'));
  } finally {
    workerA.kill('SIGKILL');
    workerB?.kill('SIGTERM');
  }
});
