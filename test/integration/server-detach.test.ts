/**
 * A local server that stays up between calls (issue 11): `robustok server start --detach` returns once
 * Temporal and MinIO answer, `run` with no TEMPORAL_ADDRESS uses that server (workers in its own process,
 * as embedded) instead of starting a dev server per call, `server status` reports it, `server stop` ends
 * it and its servers, and the next `run` is the embedded default again, on the same store. Through the
 * robustok bin, with real servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isAlive, waitFor, ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const SPEC = path.join(ROOT, 'pipelines', 'demo-commands.yaml');

function robustok(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'robustok.js'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('server start --detach, run reusing it (twice, then cached), server status, server stop, then run embedded again', async () => {
  const home = await tempDir('server-detach-home');
  // No server address, store or MinIO root credentials from the test environment: the local defaults.
  const env: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_HOME: home };
  for (const k of Object.keys(env))
    if (k.startsWith('TEMPORAL_') || k.startsWith('ROBUSTOK_S3_') || k.startsWith('MINIO_') || k === 'ROBUSTOK_STORE' || k === 'ROBUSTOK_LOCAL_SERVER')
      delete env[k];
  let pid: number | undefined;
  try {
    const start = await robustok(['server', 'start', '--detach'], env, home);
    assert.equal(start.code, 0, start.stderr);
    const address = /^export TEMPORAL_ADDRESS=(\S+)$/m.exec(start.stdout)?.[1];
    assert.ok(address, start.stdout);
    assert.match(start.stdout, /running in the background \(pid \d+/);
    const running = JSON.parse(await readFile(path.join(home, 'servers', 'running.json'), 'utf8')) as { pid: number; address: string };
    pid = running.pid;
    assert.equal(running.address, address);
    assert.ok(isAlive(pid), 'the detached server process lives after start returned');

    const again = await robustok(['server', 'start', '--detach'], env, home);
    assert.equal(again.code, 1, 'a second start for the same state folder is refused');
    assert.match(again.stderr, /SERVER_START_FAILED.*already running/);

    const status = await robustok(['server', 'status', '--json'], env, home);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(
      (({ running, healthy, temporal, minio, pid: p }) => ({ running, healthy, temporal, minio, pid: p }))(
        JSON.parse(status.stdout) as Record<string, unknown>,
      ),
      { running: true, healthy: true, temporal: true, minio: true, pid },
    );

    const first = await robustok(['run', SPEC], env, home);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.stderr.includes(`using the local Temporal server at ${address}`), first.stderr);
    assert.doesNotMatch(first.stderr, /started Temporal dev server/);
    assert.match(first.stdout, /4 ran, 0 cached/);
    const second = await robustok(['run', SPEC], env, home);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(second.stderr.includes(`using the local Temporal server at ${address}`), second.stderr);
    assert.match(second.stdout, /0 ran, 4 cached/);

    const stop = await robustok(['server', 'stop'], env, home);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stderr, /stopped the local server/);
    await waitFor('the server process to exit', () => Promise.resolve(!isAlive(pid as number)), 30_000);
    const after = await robustok(['server', 'status'], env, home);
    assert.equal(after.code, 1);
    assert.match(after.stdout, /no local server is running/);

    // Nothing running: the embedded default, on the same store (so still all cached).
    const embedded = await robustok(['run', SPEC], env, home);
    assert.equal(embedded.code, 0, embedded.stderr);
    assert.match(embedded.stderr, /started Temporal dev server/);
    assert.doesNotMatch(embedded.stderr, /using the local Temporal server/);
    assert.match(embedded.stdout, /0 ran, 4 cached/);
  } finally {
    await robustok(['server', 'stop'], env, home);
    if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});
