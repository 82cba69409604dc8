/**
 * Faults a new user meets by mistake, each of which printed a raw stack trace before (issue 13,
 * item 8): a YAML alias bomb, a spec of megabytes (gRPC RESOURCE_EXHAUSTED at start), wrong S3
 * credentials (classed INTERNAL and retried), `status` of a run whose `run` was killed (a 34 s hang,
 * then a trace), and the SDK's `[WARN] Activity failed {…taskToken…}` JSON line for every failed
 * attempt in the user's terminal. Now: exit 2 with file:line:column for the spec faults, STORE_AUTH
 * with the variables to set, an immediate `status` with the way out, and worker logs in
 * <state dir>/logs/worker.log unless --verbose. Through the real CLI on the real Temporal and MinIO.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cliEnv, runCli } from '../helpers/cli';
import { commandSpec, noTrace, STEP } from '../helpers/fault-specs';
import { tempDir } from '../helpers/servers';

test('a YAML alias bomb is refused at validate time: exit 2 at the first alias, no trace', async () => {
  const dir = await tempDir('faults-errors');
  const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (const [i, c] of [...'bcdefghi'].entries()) {
    const prev = levels[i]?.slice(0, 1) ?? 'a';
    levels.push(`${c}: &${c} [${Array(10).fill(`*${prev}`).join(',')}]`);
  }
  const spec = path.join(dir, 'bomb.yaml');
  await writeFile(spec, `apiVersion: robustok.dev/v1\nname: bomb\n${levels.join('\n')}\nstages:\n  s: {kind: command, config: {argv: [echo, hi]}}\n`);
  const r = await runCli(['validate', spec], { ...process.env });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`${spec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+: YAML aliases .* \\[SPEC_TOO_LARGE\\]`));
  noTrace(r.stderr);
  assert.ok(r.ms < 15_000, `took ${r.ms} ms`);
});

test('a 10 MB spec is refused before anything starts: exit 2 naming the stage whose config is large', async () => {
  const dir = await tempDir('faults-errors');
  const spec = path.join(dir, 'big.yaml');
  await writeFile(spec, commandSpec('big', ['node', STEP]) + `      params: {blob: "${'x'.repeat(10 * 1024 * 1024)}"}\n`);
  const r = await runCli(['run', spec, '--worker'], await cliEnv('errors-big'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /big\.yaml:\d+:\d+: the plan is 10\.\d MB serialised \(stage s's config 10\.\d MB\).*at most 1\.5 MB.*\[SPEC_TOO_LARGE\]/);
  noTrace(r.stderr);
});

test('wrong S3 credentials: STORE_AUTH with the variables to set, at once and without a trace', async () => {
  const dir = await tempDir('faults-errors');
  const spec = path.join(dir, 'auth.yaml');
  await writeFile(spec, commandSpec('auth', ['node', STEP, path.join(dir, 'count'), 's', 'x', '${outputs.out}']));
  const env = await cliEnv('errors-auth');
  const r = await runCli(['run', spec, '--worker'], { ...env, ROBUSTOK_S3_SECRET_KEY: 'not-the-secret' });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /error \[STORE_AUTH\]: MinIO at .* refused the credentials .*set ROBUSTOK_S3_ACCESS_KEY and ROBUSTOK_S3_SECRET_KEY/);
  noTrace(r.stderr);
  assert.equal(await readFile(path.join(dir, 'count'), 'utf8').catch(() => ''), '', 'no stage ran');
});
