/**
 * Fault: a stage program tries to see and leak the worker's secrets. Before the fix, `command`
 * stages inherited the worker's whole environment (ROBUSTOK_S3_SECRET_KEY included), and whatever
 * they printed reached the terminal, the run record, the Temporal history and a world-readable log.
 * Now the program gets an allow-listed environment plus what its config names, every known secret
 * is `***` in everything that leaves the stage, and kept workdirs and logs are 0700/0600.
 * Through the real CLI, on the real Temporal server and MinIO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { connectClient } from '../../cli/temporal-settings';
import { redact, redactError, secretsOfEnv } from '../../core/redact';
import { ROOT, cliEnv, runCli } from '../helpers/cli';
import { tempDir, testTemporal } from '../helpers/servers';

const LEAKY = path.join(ROOT, 'test', 'fixtures', 'commands', 'leaky.js');

interface RunJson {
  runId: string;
  outcome: string;
  stages: { id: string; outcome: string; error?: { code: string; message: string } }[];
}

/** Every string in a value, with byte arrays (Temporal payloads) decoded as UTF-8. */
function allText(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  else if (Array.isArray(v)) for (const x of v) allText(x, out);
  else if (v !== null && typeof v === 'object') for (const x of Object.values(v)) allText(x, out);
  return out;
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;

test('a command stage never sees the worker secrets, and none leaks into messages, records, history or logs', async () => {
  const dir = await tempDir('faults-secrets');
  const tmp = await tempDir('faults-secrets-tmp');
  const env = await cliEnv('secrets');
  const apiToken = `tok-${randomBytes(12).toString('hex')}`;
  const runEnv: NodeJS.ProcessEnv = { ...env, MY_API_TOKEN: apiToken, UNLISTED_SETTING: 'worker-only', TMPDIR: tmp };
  const secrets = [env.ROBUSTOK_S3_SECRET_KEY ?? '', env.ROBUSTOK_S3_ACCESS_KEY ?? '', apiToken];
  assert.ok(
    secrets.every((s) => s.length >= 8),
    'the test servers have real credentials',
  );
  const secretsFile = path.join(dir, 'secrets.json');
  await writeFile(secretsFile, JSON.stringify(secrets));
  const dump = path.join(dir, 'env.json');
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: leaky
defaults:
  retry: {maximumAttempts: 1}
stages:
  leak:
    kind: command
    config:
      argv: [node, ${LEAKY}, ${dump}, ${secretsFile}]
      passEnv: [MY_API_TOKEN]
      env: {GREETING: hello}
      params: {who: world}
`,
  );

  const r = await runCli(['run', spec, '--worker', '--json'], runEnv);
  assert.equal(r.code, 1, r.stderr);

  // 1. The program's environment: the allow-list, what the config names, the runner's RT_* — nothing else.
  const childEnv = JSON.parse(await readFile(dump, 'utf8')) as Record<string, string>;
  for (const name of ['ROBUSTOK_S3_SECRET_KEY', 'ROBUSTOK_S3_ACCESS_KEY', 'ROBUSTOK_STORE', 'TEMPORAL_ADDRESS', 'UNLISTED_SETTING'])
    assert.equal(childEnv[name], undefined, `${name} reached the stage`);
  assert.ok(!Object.values(childEnv).some((v) => v === secrets[0] || v === secrets[1]), 'a store credential reached the stage under another name');
  assert.equal(childEnv.MY_API_TOKEN, apiToken, 'passEnv passes the named variable');
  assert.equal(childEnv.GREETING, 'hello');
  assert.equal(childEnv.RT_PARAM_WHO, 'world');
  assert.equal(childEnv.PATH, process.env.PATH);
  assert.ok(childEnv.RT_WORKDIR);

  // 2. The terminal and the run record: the failure is there, the secrets are not.
  const terminal = r.stdout + r.stderr;
  for (const s of secrets) assert.ok(!terminal.includes(s), `a secret reached the terminal:\n${terminal}`);
  const record = JSON.parse(r.stdout) as RunJson;
  const leak = record.stages.find((s) => s.id === 'leak');
  assert.equal(leak?.outcome, 'failed');
  assert.equal(leak.error?.code, 'COMMAND_FAILED');
  assert.match(leak.error.message, /the secret is \*\*\*/);

  // 3. Temporal's history of the run (failures, heartbeats, results), payloads decoded.
  const t = await testTemporal();
  const conn = await connectClient({ address: t.address, namespace: t.namespace });
  try {
    const client = new Client({ connection: conn, namespace: t.namespace });
    const history = await client.workflow.getHandle(`run-${record.runId}`).fetchHistory();
    const text = allText(history).join('\n');
    assert.match(text, /the secret is \*\*\*/, 'the failure is in the history (so the search below is meaningful)');
    for (const s of secrets) assert.ok(!text.includes(s), 'a secret is in the Temporal history');
  } finally {
    await conn.close();
  }

  // 4. The kept workdir and its logs: private, and redacted too.
  const workRoot = path.join(tmp, 'robustok-work');
  const [keyDir] = await readdir(workRoot);
  assert.ok(keyDir);
  const [attempt] = await readdir(path.join(workRoot, keyDir));
  assert.ok(attempt);
  const workdir = path.join(workRoot, keyDir, attempt);
  assert.equal(await mode(workdir), 0o700);
  assert.equal(await mode(path.join(workdir, '.logs')), 0o700);
  for (const f of ['stdout.log', 'stderr.log']) {
    const p = path.join(workdir, '.logs', f);
    assert.equal(await mode(p), 0o600, f);
    const body = await readFile(p, 'utf8');
    assert.match(body, /\*\*\*/);
    for (const s of secrets) assert.ok(!body.includes(s), `${f} holds a secret`);
  }
});

test('redaction covers secret-named variables, TLS key material and error chains', async () => {
  const dir = await tempDir('faults-redact');
  const pem = path.join(dir, 'client.key');
  const body = randomBytes(48).toString('base64');
  await writeFile(pem, `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`);
  const env = { DB_PASSWORD: 'hunter2-long-enough', SHORT_TOKEN: 'abc', TEMPORAL_TLS_KEY: pem, PLAIN: 'not-a-secret-value' };
  const found = secretsOfEnv(env);
  assert.ok(found.includes('hunter2-long-enough'));
  assert.ok(found.includes(body), 'the key body');
  assert.ok(!found.includes('abc'), 'trivial values are not secrets');
  assert.ok(!found.includes(pem), 'a path to an existing file is not itself a secret');
  assert.ok(!found.includes('not-a-secret-value'));
  assert.equal(redact(`x ${body} y hunter2-long-enough`, found), 'x *** y ***');
  const e = redactError(new Error('outer hunter2-long-enough', { cause: new Error(`inner ${body}`) }), found);
  assert.equal(e.message, 'outer ***');
  assert.equal((e.cause as Error).message, 'inner ***');
  assert.ok(!(e.stack ?? '').includes('hunter2'));
});
