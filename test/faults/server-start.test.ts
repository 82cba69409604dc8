/**
 * `robustok server start` (issue 13, item 11; item 7 for the parent-death part; issue 10 for the UI).
 * Before: it said "credentials from your environment (or generated)" without showing the generated
 * ones, took only free ports (new addresses on every start), ran the Temporal dev server headless,
 * kept running when a child server died, and its children outlived a SIGKILL of it.
 * Now: it prints the exports a client needs (credentials included) and the Web UI; ports given by
 * flag are remembered; a dying child makes it stop the other and exit 1; its children get a
 * parent-death signal. Real servers, real kills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { MinioStore } from '../../artifacts/minio-store';
import { temporalReady } from '../../infra/temporal-server';
import { freePort } from '../../infra/ports';
import { isAlive, startCli, waitFor } from '../helpers/cli';
import { tempDir, uniqueBucket } from '../helpers/servers';

interface Started {
  child: ChildProcess;
  exports: Record<string, string>;
  ui: string;
  out: () => string;
  exited: Promise<number | null>;
}

async function serverStart(home: string, args: string[] = []): Promise<Started> {
  const env: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_HOME: home };
  for (const k of ['MINIO_ROOT_USER', 'MINIO_ROOT_PASSWORD', 'TEMPORAL_ADDRESS']) delete env[k];
  const child = startCli(['server', 'start', ...args], env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor('server start to print its addresses', () => Promise.resolve(stdout.includes('Ctrl-C stops both') || child.exitCode !== null), 90_000);
  assert.match(stdout, /Ctrl-C stops both/, `stdout: ${stdout}\nstderr: ${stderr}`);
  const exports = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  const ui = /^# Temporal Web UI: (http:\S+)$/m.exec(stdout)?.[1] ?? '';
  return { child, exports, ui, out: () => stdout + stderr, exited };
}

const childPids = (pid: number) =>
  execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => n > 0);

test('server start: prints the credentials and Web UI, remembers ports, exits 1 when a server dies, and its servers die with it', async () => {
  const home = await tempDir('faults-server-home');
  const [temporalPort, minioPort] = [await freePort(), await freePort()];
  const first = await serverStart(home, ['--temporal-port', String(temporalPort), '--minio-port', String(minioPort)]);
  const x = first.exports;
  assert.equal(x.TEMPORAL_ADDRESS, `127.0.0.1:${temporalPort}`);
  assert.equal(x.ROBUSTOK_S3_ENDPOINT, `http://127.0.0.1:${minioPort}`);
  assert.ok(await temporalReady(x.TEMPORAL_ADDRESS ?? '', 'default'));
  // The printed credentials are the server's: a store opened with them works.
  const store = new MinioStore({
    endpoint: x.ROBUSTOK_S3_ENDPOINT ?? '',
    accessKey: x.ROBUSTOK_S3_ACCESS_KEY ?? '',
    secretKey: x.ROBUSTOK_S3_SECRET_KEY ?? '',
    bucket: uniqueBucket('server-start'),
    prefix: '',
  });
  await store.put('probe', Buffer.from('ok'));
  assert.equal((await store.getBytes('probe')).toString(), 'ok');
  // The Web UI serves a run's page (a single-page app: every route answers the app).
  const page = await fetch(`${first.ui}/namespaces/default/workflows/run-x`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<html/i);
  const settings = path.join(home, 'servers', 'servers.json');
  assert.equal((await stat(settings)).mode & 0o777, 0o600);

  // A child server dying on its own ends `server start` with exit 1, naming it; the other is stopped.
  const pid = first.child.pid ?? 0;
  const children = childPids(pid);
  assert.equal(children.length, 2, `two servers under ${pid}: ${children.join(', ')}`);
  const minioPid = children.find((c) => execFileSync('ps', ['-o', 'args=', '-p', String(c)], { encoding: 'utf8' }).includes('minio'));
  assert.ok(minioPid !== undefined);
  process.kill(minioPid, 'SIGKILL');
  assert.equal(await first.exited, 1);
  assert.match(first.out(), /error \[SERVER_DIED\]: MinIO exited \(SIGKILL\); its log: .*minio\.log/);
  await waitFor('the Temporal server to be stopped', () => Promise.resolve(children.every((c) => !isAlive(c))), 15_000);

  // Started again without flags: the same ports and credentials; SIGKILL of it takes its servers along.
  const second = await serverStart(home);
  assert.deepEqual(second.exports, first.exports);
  const servers = childPids(second.child.pid ?? 0);
  assert.equal(servers.length, 2);
  second.child.kill('SIGKILL');
  await waitFor('both servers to exit after their parent was SIGKILLed', () => Promise.resolve(servers.every((c) => !isAlive(c))), 15_000);
});
