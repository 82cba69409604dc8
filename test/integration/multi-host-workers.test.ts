/**
 * Two hosts, as two `robustok worker` processes with their own ROBUSTOK_HOME and work root, one
 * Temporal server and one MinIO store: the stages of one run land on both (manifests name the worker
 * that produced them; each stage ran in its worker's work root), and a worker SIGKILLed in the middle
 * of a stage loses it to the other one after the heartbeat timeout — the run still succeeds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openStore } from '../../artifacts/open-store';
import { manifestKey, type Manifest } from '../../artifacts/manifest';
import { cliEnv, fileLines, parseJson, runCli, startCli, waitFor } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

/** Notes "<label> <cwd>" (cwd = the attempt's workdir, inside its worker's work root), sleeps, writes its output. */
const STAGE_JS = `const fs = require('node:fs');
const [counter, label, ms, out] = process.argv.slice(2);
fs.appendFileSync(counter, label + ' ' + process.cwd() + '\\n');
setTimeout(() => fs.writeFileSync(out, label + '\\n'), Number(ms));
`;

interface Host {
  readonly name: string;
  readonly workRoot: string;
  readonly child: ChildProcess;
  polling: boolean;
}

test('two worker hosts share one run; killing one mid-stage moves the stage to the other', async () => {
  const dir = await tempDir('hosts');
  const counter = path.join(dir, 'count.txt');
  const script = path.join(dir, 'stage.js');
  await writeFile(script, STAGE_JS);
  const spec = path.join(dir, 'pipeline.yaml');
  const stage = (label: string, ms: number, inputs = '') =>
    `  ${label}:\n    kind: command\n${inputs}    config:\n      argv: [node, ${script}, ${counter}, ${label}, '${ms}', '\${outputs.out}']\n      outputs: {out: ${label}.txt}\n`;
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: multi-host
defaults:
  queue: cpu
  retry: {maximumAttempts: 3, initialInterval: 200ms}
  timeouts: {startToClose: 5m, heartbeat: 4s}
stages:
${stage('a', 2500)}${stage('b', 2500)}${stage('slow', 6000, '    inputs: {a: a.out, b: b.out}\n')}`,
  );
  const env = await cliEnv('hosts');
  const hosts: Host[] = [];
  for (const name of ['host1', 'host2']) {
    const home = await tempDir(`${name}-home`);
    const workRoot = path.join(home, 'work');
    // One stage at a time per host, so two stages ready together must go to both.
    const child = startCli(['worker', '--concurrency', '1', '--work-root', workRoot], { ...env, ROBUSTOK_HOME: home });
    const host: Host = { name, workRoot, child, polling: false };
    let err = '';
    child.stderr?.on('data', (b: Buffer) => {
      err += b.toString();
      if (/polling /.test(err)) host.polling = true;
    });
    hosts.push(host);
  }
  try {
    await waitFor('both workers to poll', () => Promise.resolve(hosts.every((h) => h.polling)), 90_000);
    const runP = runCli(['run', spec, '--no-worker', '--json'], env);
    const lines = async () => (await fileLines(counter)).map((l) => ({ label: l.split(' ')[0], cwd: l.slice(l.indexOf(' ') + 1) }));
    const hostOf = (cwd: string) => hosts.find((h) => cwd.startsWith(h.workRoot + path.sep));
    await waitFor('the slow stage to start', async () => (await lines()).some((l) => l.label === 'slow'), 60_000);
    const first = (await lines()).find((l) => l.label === 'slow');
    const victim = hostOf(first?.cwd ?? '');
    assert.ok(victim, `slow ran in a worker's work root: ${first?.cwd}`);
    victim.child.kill('SIGKILL');
    const survivor = hosts.find((h) => h !== victim);

    const run = await runP;
    assert.equal(run.code, 0, run.stderr);
    const record = parseJson<{ stages: { id: string; outcome: string; attempts: number; key: string }[] }>(run);
    const byId = Object.fromEntries(record.stages.map((s) => [s.id, s]));
    assert.deepEqual(
      record.stages.map((s) => s.outcome),
      ['ran', 'ran', 'ran'],
    );
    assert.equal(byId.slow?.attempts, 2, 'the second attempt, on the other host, finished the stage');

    // Where each stage ran: a and b on different hosts; slow first on the victim, then on the survivor.
    const seen = await lines();
    const ranOn = (label: string) => seen.filter((l) => l.label === label).map((l) => hostOf(l.cwd)?.name);
    assert.notEqual(ranOn('a')[0], ranOn('b')[0], 'the two parallel stages landed on both hosts');
    assert.ok(ranOn('a')[0] !== undefined && ranOn('b')[0] !== undefined);
    assert.deepEqual(ranOn('slow'), [victim.name, survivor?.name]);

    // The manifests in the shared store name the worker (host:pid) that produced each output.
    const store = openStore(env.ROBUSTOK_STORE ?? '', env);
    const hostField = async (id: string) => (JSON.parse((await store.getBytes(manifestKey(byId[id]?.key ?? ''))).toString('utf8')) as Manifest).host;
    const workerId = (h: Host | undefined) => `${os.hostname()}:${String(h?.child.pid)}`;
    const hostByName = (n: string | undefined) => hosts.find((h) => h.name === n);
    assert.equal(await hostField('a'), workerId(hostByName(ranOn('a')[0])));
    assert.equal(await hostField('b'), workerId(hostByName(ranOn('b')[0])));
    assert.equal(await hostField('slow'), workerId(survivor));
  } finally {
    for (const h of hosts) h.child.kill('SIGKILL');
  }
});
