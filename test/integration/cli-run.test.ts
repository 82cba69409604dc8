/**
 * `robustok run` end to end through the CLI, against the real Temporal dev server and MinIO:
 * a 4-stage command pipeline, the no-op re-run, a --set change, and --json run records.
 *
 *   a ──► b ──► d
 *   └───► c ──┘
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, cliEnv, parseJson, runCli } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const STEP = path.join(ROOT, 'test', 'fixtures', 'commands', 'step.js');

export function diamondSpec(counter: string): string {
  const stage = (id: string, inputs: string[]) => `
  ${id}:
    kind: command
    inputs: {${inputs.map((i) => `${i}: ${i}.out`).join(', ')}}
    config:
      argv: [node, ${STEP}, ${counter}, ${id}, '\${params.text}', '\${outputs.out}'${inputs.map((i) => `, '\${inputs.${i}}'`).join('')}]
      params: {text: ${id.toUpperCase()}}
      outputs: {out: ${id}.txt}`;
  return `apiVersion: robustok.dev/v1
name: cli-diamond
defaults:
  queue: cpu
  retry: {maximumAttempts: 2, initialInterval: 200ms}
stages:${stage('a', [])}${stage('b', ['a'])}${stage('c', ['a'])}${stage('d', ['b', 'c'])}
`;
}

interface RunJson {
  runId: string;
  outcome: string;
  stages: { id: string; outcome: string; key: string; attempts: number; outputs: Record<string, { digest: string; bytes: number }> }[];
}

const outcomes = (r: RunJson) => Object.fromEntries(r.stages.map((s) => [s.id, s.outcome]));

test('run twice: the second run executes no stage; --set reruns exactly the changed stage and its descendants', async () => {
  const dir = await tempDir('cli-run');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'pipeline.yaml');
  await writeFile(spec, diamondSpec(counter));
  const env = await cliEnv('clirun');

  const first = await runCli(['run', spec, '--worker', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  const r1 = parseJson<RunJson>(first);
  assert.deepEqual(outcomes(r1), { a: 'ran', b: 'ran', c: 'ran', d: 'ran' });
  assert.ok(r1.stages.every((s) => /^[0-9a-f]{64}$/.test(s.key) && s.attempts === 1));

  const second = await runCli(['run', spec, '--worker', '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual(outcomes(parseJson<RunJson>(second)), { a: 'cached', b: 'cached', c: 'cached', d: 'cached' });
  assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 4, 'no stage executed on the second run');
  // Reported in the closing note; the target (< 5 s) is measured, not asserted: timed tests flake.
  console.log(`no-op re-run of 4 cached stages through the CLI: ${second.ms} ms wall (first run ${first.ms} ms)`);

  const plan = parseJson<{ runs: { id: string; status: string }[] }>(await runCli(['plan', spec, '--json', '--set', 'stages.b.config.params.text=B2'], env));
  assert.deepEqual(Object.fromEntries(plan.runs.map((r) => [r.id, r.status])), { a: 'cached', b: 'will run', c: 'cached', d: 'will run' });

  const explain = await runCli(['explain', 'b', spec, '--set', 'stages.b.config.params.text=B2'], env);
  assert.equal(explain.code, 0, explain.stderr);
  assert.match(explain.stdout, /b: key changed since run .*\n\s+- config\.params\.text: "B" → "B2"/);

  const third = await runCli(['run', spec, '--worker', '--json', '--set', 'stages.b.config.params.text=B2'], env);
  assert.equal(third.code, 0, third.stderr);
  assert.deepEqual(outcomes(parseJson<RunJson>(third)), { a: 'cached', b: 'ran', c: 'cached', d: 'ran' });
  assert.deepEqual((await readFile(counter, 'utf8')).trim().split('\n').sort(), ['a', 'b', 'b', 'c', 'd', 'd']);
});

test('a failing run exits 1 and `status` and `resume` work on it', async () => {
  const dir = await tempDir('cli-fail');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'pipeline.yaml');
  const flag = path.join(dir, 'fail-flag');
  // c fails while the flag file exists: the test removes it, then resumes.
  await writeFile(flag, 'x');
  await writeFile(spec, diamondSpec(counter).replace('params: {text: C}', `params: {text: C}\n      env: {STEP_FAIL_IF_EXISTS: '${flag}'}`));
  const env = await cliEnv('clifail');
  const failed = await runCli(['run', spec, '--worker', '--json'], env);
  assert.equal(failed.code, 1, failed.stderr);
  const r = parseJson<RunJson>(failed);
  assert.deepEqual(outcomes(r), { a: 'ran', b: 'ran', c: 'failed', d: 'skipped' }, failed.stdout);

  const status = await runCli(['status', r.runId, '--json'], env);
  assert.equal(status.code, 1);
  assert.equal(parseJson<RunJson>(status).outcome, 'failed');

  await rm(flag);
  const resumed = await runCli(['resume', r.runId, '--worker', '--json'], env);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(outcomes(parseJson<RunJson>(resumed)), { a: 'cached', b: 'cached', c: 'ran', d: 'ran' });
});
