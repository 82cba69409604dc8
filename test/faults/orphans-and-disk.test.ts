/**
 * Orphans and disk (issue 13, item 7), with real kills and a real full filesystem.
 * Before: a stage program that prints nothing survived its worker's SIGKILL (it leads its own
 * process group); a SIGKILLed embedded `run` left its Temporal dev server running forever; every
 * failed attempt kept its workdir; a full work disk was a retryable COMMAND_FAILED/INTERNAL.
 * Now: stage programs and the embedded server get a parent-death signal (and groups are killed on
 * exit); only the newest failed workdir per stage key is kept; a full disk is DISK_FULL,
 * non-retryable, naming the path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalDirStore } from '../../artifacts/local-store';
import { isAlive, ROOT, startCli, waitFor } from '../helpers/cli';
import { commandRun, pipelineHarness, planOf } from '../helpers/pipeline-harness';
import { tempDir } from '../helpers/servers';

const SILENT = path.join(ROOT, 'test', 'fixtures', 'commands', 'silent.js');

const childrenOf = (pid: number) =>
  execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), args: m[2] ?? '' }));

test("SIGKILL of an embedded run takes its silent stage program, the program's child and its Temporal dev server along", async () => {
  const dir = await tempDir('faults-orphans');
  const pidFile = path.join(dir, 'stage.pid');
  const spec = path.join(dir, 'silent.yaml');
  await writeFile(spec, `apiVersion: robustok.dev/v1\nname: silent\nstages:\n  s:\n    kind: command\n    config: {argv: [node, ${SILENT}, ${pidFile}]}\n`);
  // The embedded default: no Temporal address, a local store, everything in this one process.
  const env: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_HOME: await tempDir('faults-orphans-home') };
  for (const k of ['TEMPORAL_ADDRESS', 'ROBUSTOK_STORE', 'ROBUSTOK_S3_ENDPOINT']) delete env[k];
  const run = startCli(['run', spec], env);
  let stderr = '';
  run.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  await waitFor('the stage program to start', async () => (await readFile(pidFile, 'utf8').catch(() => '')) !== '', 90_000);
  // The embedded dev server serves the Web UI, and run prints the run's page (issue 10).
  const ui = /Temporal Web UI: (http:\/\/127\.0\.0\.1:\d+\/namespaces\/default\/workflows\/run-silent-\S+)/.exec(stderr)?.[1];
  assert.ok(ui !== undefined, stderr);
  assert.equal((await fetch(ui)).status, 200);
  const [stagePid = 0, grandchildPid = 0] = (await readFile(pidFile, 'utf8')).split(' ').map(Number);
  const server = childrenOf(run.pid ?? 0).find((c) => c.args.includes('server start-dev'));
  assert.ok(server !== undefined, 'the run started its own dev server');
  assert.ok(isAlive(stagePid) && isAlive(grandchildPid) && isAlive(server.pid));
  run.kill('SIGKILL');
  await waitFor(
    'the stage program, its child and the dev server to exit',
    () => Promise.resolve(!isAlive(stagePid) && !isAlive(grandchildPid) && !isAlive(server.pid)),
    15_000,
  );
});

test('only the newest failed workdir of a stage is kept', async () => {
  const harness = await pipelineHarness(new LocalDirStore(await tempDir('faults-workdirs-store')));
  try {
    const fail = commandRun('fail', {
      config: { argv: ['node', '-e', 'require("fs").writeFileSync("junk", "x".repeat(1e5)); process.exit(3)'] },
      outputs: [],
      maximumAttempts: 3,
    });
    const record = await harness.run(planOf([fail]));
    assert.equal(record.stages[0]?.outcome, 'failed');
    assert.equal(record.stages[0]?.attempts, 3);
    const keyDirs = await readdir(harness.workRoot);
    assert.equal(keyDirs.length, 1);
    const left = (await readdir(path.join(harness.workRoot, keyDirs[0] ?? ''))).filter((n) => n.startsWith('attempt-'));
    assert.deepEqual(
      left.map((n) => n.split('-').slice(0, 2).join('-')),
      ['attempt-3'],
      `kept: ${left.join(', ')}`,
    );
  } finally {
    await harness.close();
  }
});

test('a full work disk is DISK_FULL at once (no retry), naming the path; the worker keeps serving', async (t) => {
  const mount = await tempDir('faults-fulldisk');
  await mkdir(mount, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount], { stdio: 'pipe' });
  } catch (e) {
    t.skip(`cannot mount a 1 MB tmpfs here (${String(e).split('\n')[0]}): the full-disk fault needs root or a small filesystem`);
    return;
  }
  const harness = await pipelineHarness(new LocalDirStore(await tempDir('faults-fulldisk-store')), { workRoot: mount });
  try {
    const writer = commandRun('big', {
      config: { argv: ['node', '-e', 'require("fs").writeFileSync("big", Buffer.alloc(4e6))'] },
      outputs: [],
      maximumAttempts: 3,
    });
    const record = await harness.run(planOf([writer]));
    const stage = record.stages[0];
    assert.equal(stage?.outcome, 'failed');
    assert.equal(stage.error?.code, 'DISK_FULL', JSON.stringify(stage.error));
    assert.equal(stage.attempts, 1, 'not retried');
    assert.match(stage.error.message, new RegExp(`the work disk is full at ${mount}/`));
    // The same worker still runs stages once there is room.
    const ok = commandRun('small', {
      config: { argv: ['node', '-e', 'require("fs").writeFileSync("out.txt", "ok")'], outputs: { out: 'out.txt' } },
      outputs: ['out'],
    });
    assert.equal((await harness.run(planOf([ok]))).outcome, 'succeeded');
  } finally {
    await harness.close();
    execFileSync('umount', [mount]);
    await rm(mount, { recursive: true, force: true });
  }
});
