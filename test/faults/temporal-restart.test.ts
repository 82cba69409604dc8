/**
 * A Temporal restart while `run` waits (issue 13, item 8). Before: `run` died with a stack trace (an
 * outage longer than the client's gRPC retries) although the run itself then succeeded. Now it waits
 * for the server (ROBUSTOK_TEMPORAL_WAIT, default 5m) and keeps following: the connection comes back and the
 * result is printed. A private dev server (fixed port, SQLite file) is SIGKILLed mid-stage and
 * started again on the same port and database.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from '../../infra/ports';
import { startTemporalDevServer, type TemporalDevServer } from '../../infra/temporal-server';
import { cliEnv, fileLines, startCli, waitFor } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const STEP = path.resolve(__dirname, '..', 'fixtures', 'commands', 'step.js');
let server: TemporalDevServer | undefined;
after(async () => server?.stop());

test('run keeps following through a Temporal restart and prints the result', async () => {
  const dataDir = await tempDir('faults-restart-temporal');
  const port = await freePort();
  server = await startTemporalDevServer({ dataDir, port, headless: true });
  const dir = await tempDir('faults-restart');
  const counter = path.join(dir, 'count');
  const spec = path.join(dir, 'restart.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: restart
defaults:
  timeouts: {heartbeat: 10s}
stages:
  s:
    kind: command
    config:
      argv: [node, ${STEP}, ${counter}, s, x, '\${outputs.out}']
      env: {STEP_SLEEP_MS: "6000"}
      outputs: {out: out.txt}
`,
  );
  const env = { ...(await cliEnv('restart')), TEMPORAL_ADDRESS: server.address };
  const child = startCli(['run', spec, '--worker'], env);
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitFor('the stage to start', async () => (await fileLines(counter)).length > 0);
  server.process.child.kill('SIGKILL');
  // Longer than the client's own gRPC retries (~20 s), which is what ended `run` before.
  await new Promise((r) => setTimeout(r, 20_000));
  server = await startTemporalDevServer({ dataDir, port, headless: true });
  assert.equal(await exit, 0, out);
  assert.match(out, /run restart-\S+ \(restart\): succeeded/);
  assert.doesNotMatch(out, /^\s+at .+:\d+:\d+\)?$/m);
  assert.match(out, /Temporal is not answering .*still following run restart-/);
  // The SDK core's connection-retry lines go to the worker log, not the terminal.
  assert.doesNotMatch(out, /temporalio_client::retry/);
});
