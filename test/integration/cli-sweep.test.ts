/**
 * Sweeps through the CLI on the real servers.
 *
 *   data ──► scale(factor ∈ {2, 10}) ──► offset(shift ∈ {0, 1, 2})      2 × 3 = 6 arms
 *
 * data is shared by all 6 arms and must execute once; scale once per factor; offset once per arm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, cliEnv, parseJson, runCli } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const STEP = path.join(ROOT, 'test', 'fixtures', 'commands', 'step.js');

function sweepSpec(counter: string, shifts: string, extra = ''): string {
  return `apiVersion: robustok.dev/v1
name: sweep-test
defaults:
  queue: cpu
  retry: {maximumAttempts: 1}
stages:
  data:
    kind: command
    config:
      argv: [node, ${STEP}, ${counter}, data, '1 2 3', '\${outputs.out}']
      outputs: {out: data.txt}
  scale:
    kind: command
    inputs: {x: data.out}
    config:
      argv: [node, ${STEP}, ${counter}, scale, '\${params.factor}', '\${outputs.out}', '\${inputs.x}']
      params: {factor: 1}
      outputs: {out: scale.txt}
  offset:
    kind: command
    inputs: {x: scale.out}
    config:
      argv: [node, ${STEP}, ${counter}, offset, '\${params.shift}', '\${outputs.out}', '\${inputs.x}']
      params: {shift: 0}
      env: {STEP_METRICS: m.json, STEP_FAIL_TEXT: boom}
      metricsFile: m.json
      outputs: {out: offset.txt}
sweep:
  grid:
    stages.scale.config.params.factor: [2, 10]
    stages.offset.config.params.shift: ${shifts}
${extra}`;
}

interface RunJson {
  outcome: string;
  stages: { id: string; stage: string; arms: number[]; outcome: string; metrics: Record<string, number> }[];
  arms: { index: number; label: string; outcome: string; metrics: Record<string, number> }[];
}

test('2 × 3 sweep: the shared upstream runs once, every arm gets its result, plan shows the merge', async () => {
  const dir = await tempDir('sweep');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'sweep.yaml');
  await writeFile(spec, sweepSpec(counter, '[0, 1, 2]'));
  const env = await cliEnv('sweep');

  const plan = parseJson<{ arms: unknown[]; runs: { id: string; stage: string; shared: boolean; arms: string[] }[] }>(
    await runCli(['plan', spec, '--json'], env),
  );
  assert.equal(plan.arms.length, 6);
  const byStage = (s: string) => plan.runs.filter((r) => r.stage === s);
  assert.equal(byStage('data').length, 1);
  assert.equal(byStage('data')[0]?.arms.length, 6);
  assert.equal(byStage('data')[0]?.shared, true);
  assert.equal(byStage('scale').length, 2);
  assert.ok(byStage('scale').every((r) => r.arms.length === 3));
  assert.equal(byStage('offset').length, 6);
  const text = await runCli(['plan', spec], env);
  assert.match(text.stdout, /data\s+will run .*\[shared by 6 arms\]/);

  const run = await runCli(['run', spec, '--worker', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  const record = parseJson<RunJson>(run);
  const executed = (await readFile(counter, 'utf8')).trim().split('\n');
  assert.deepEqual(
    {
      data: executed.filter((l) => l === 'data').length,
      scale: executed.filter((l) => l === 'scale').length,
      offset: executed.filter((l) => l === 'offset').length,
    },
    { data: 1, scale: 2, offset: 6 },
  );
  assert.equal(record.arms.length, 6);
  for (const arm of record.arms) {
    assert.equal(arm.outcome, 'succeeded');
    assert.equal(typeof arm.metrics['offset.length'], 'number', `arm ${arm.label} has its offset metric`);
  }
  assert.deepEqual(
    record.arms.map((a) => a.label).sort(),
    ['factor=10,shift=0', 'factor=10,shift=1', 'factor=10,shift=2', 'factor=2,shift=0', 'factor=2,shift=1', 'factor=2,shift=2'].sort(),
  );
});

test('failurePolicy continue: failing arms do not stop the others; the summary lists each arm', async () => {
  const dir = await tempDir('sweep-fail');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'sweep.yaml');
  await writeFile(spec, sweepSpec(counter, '[0, boom, 2]', 'failurePolicy: continue\n'));
  const env = await cliEnv('sweepfail');
  const run = await runCli(['run', spec, '--worker', '--json'], env);
  assert.equal(run.code, 1);
  const record = parseJson<RunJson>(run);
  const byOutcome = (o: string) =>
    record.arms
      .filter((a) => a.outcome === o)
      .map((a) => a.label)
      .sort();
  assert.deepEqual(byOutcome('failed'), ['factor=10,shift=boom', 'factor=2,shift=boom']);
  assert.equal(byOutcome('succeeded').length, 4);
  const human = await runCli(['status', run.stdout.match(/"runId": "([^"]+)"/)?.[1] ?? '?'], env);
  assert.match(human.stdout, /✖ factor=2,shift=boom/);
  assert.match(human.stdout, /✔ factor=2,shift=0 offset\.length=\d+/);
});

test('a sweep of 60 arms of a cheap stage completes within Temporal limits', async () => {
  const dir = await tempDir('sweep-60');
  const counter = path.join(dir, 'count.txt');
  const spec = path.join(dir, 'sweep.yaml');
  await writeFile(
    spec,
    `apiVersion: robustok.dev/v1
name: sweep-60
defaults: {queue: cpu}
concurrency: {cpu: 4}
stages:
  tiny:
    kind: command
    config:
      argv: [node, ${STEP}, ${counter}, tiny, '\${params.i}', '\${outputs.out}']
      params: {i: 0}
      outputs: {out: o.txt}
sweep:
  grid:
    stages.tiny.config.params.i: {start: 0, stop: 59, step: 1}
`,
  );
  const env = await cliEnv('sweep60');
  const run = await runCli(['run', spec, '--worker', '--json'], env);
  assert.equal(run.code, 0, run.stderr);
  const record = parseJson<RunJson>(run);
  assert.equal(record.arms.length, 60);
  assert.ok(record.arms.every((a) => a.outcome === 'succeeded'));
  assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 60);
  console.log(`60-arm sweep through the CLI: ${run.ms} ms wall`);
});
