/**
 * Planning small DAGs: order, cycles, dangling and missing inputs, sweeps and run merging.
 *   node --import tsx --test test/unit/plan/build.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { buildPlan } from '../../../plan/index';
import type { Plan, StageRun } from '../../../plan/types';
import { formatIssues, loadSpecText } from '../../../spec/index';
import type { SpecIssue } from '../../../spec/types';
import { commandDescriptor } from '../../../stages/command-config';
import { catalogOf, type StageDescriptor } from '../../../stages/descriptor';

/** A test kind: produces `outs`, requires the inputs listed in `needs`, may take those in `takes`. */
const stepConfig = z.strictObject({
  x: z.number().default(0),
  outs: z.array(z.string()).default(['out']),
  needs: z.array(z.string()).default([]),
  takes: z.array(z.string()).default(['a', 'b', 'd', 'm', 'x', 'imgs', 'lbls', 'data', 'extra']),
});
const step: StageDescriptor<z.output<typeof stepConfig>> = {
  kind: 'step',
  version: '3',
  description: 'test stage',
  configSchema: stepConfig,
  inputs: (c) => ({ required: c.needs, optional: c.takes }),
  outputs: (c) => c.outs,
};
const catalog = catalogOf([commandDescriptor, step]);

const HEAD = 'apiVersion: robustok.dev/v1\nname: t\n';

function plan(yaml: string): { ok: true; plan: Plan } | { ok: false; issues: SpecIssue[] } {
  const loaded = loadSpecText(HEAD + yaml, 'p.yaml', catalog);
  if (!loaded.ok) assert.fail(`spec rejected:\n${formatIssues(loaded.error)}`);
  const r = buildPlan(loaded.value.spec, catalog, loaded.value.sourceMap);
  return r.ok ? { ok: true, plan: r.value } : { ok: false, issues: r.error };
}

function planned(yaml: string): Plan {
  const r = plan(yaml);
  if (!r.ok) assert.fail(formatIssues(r.issues));
  return r.plan;
}

function rejected(yaml: string): SpecIssue[] {
  const r = plan(yaml);
  assert.equal(r.ok, false, 'expected the plan to be refused');
  return r.ok ? [] : r.issues;
}

const where = (i: SpecIssue) => `${i.line}:${i.column} ${i.code} ${i.path}`;
const run = (p: Plan, id: string): StageRun => p.runs.find((r) => r.id === id) ?? assert.fail(`no run ${id}`);

test('diamond: order follows the inputs, ties go to spec order', () => {
  //   src ──► left ──┐
  //     └───► right ─┴─► join        (listed in the spec as: join, right, left, src)
  const p = planned(`stages:
  join:  {kind: step, inputs: {a: left.out, b: right.out}, config: {needs: [a, b]}}
  right: {kind: step, inputs: {a: src.out}}
  left:  {kind: step, inputs: {a: src.out}}
  src:   {kind: step}
`);
  assert.deepEqual(
    p.runs.map((r) => r.id),
    ['src', 'right', 'left', 'join'],
  );
  assert.deepEqual(run(p, 'join').inputs, { a: { run: 'left', output: 'out' }, b: { run: 'right', output: 'out' } });
  assert.deepEqual(p.arms, [{ index: 0, label: '', params: {} }]);
  assert.ok(p.runs.every((r) => r.arms.length === 1 && r.arms[0] === 0 && /^[0-9a-f]{64}$/.test(r.structuralKey)));
  assert.deepEqual(run(p, 'src').outputs, ['out']);
  assert.equal(run(p, 'src').version, '3');
});

test('the plan is deterministic: same spec, same plan', () => {
  const yaml = `stages:\n  a: {kind: step}\n  b: {kind: step, inputs: {x: a.out}}\nsweep: {grid: {stages.b.config.x: [1, 2]}}\n`;
  assert.deepEqual(planned(yaml), planned(yaml));
});

test('a cycle is reported once, listing every stage on it with its position', () => {
  //   a ──► b ──► c ──┐        d (independent)
  //   ▲───────────────┘
  const issues = rejected(`stages:
  a: {kind: step, inputs: {x: c.out}}
  b: {kind: step, inputs: {x: a.out}}
  c: {kind: step, inputs: {x: b.out}}
  d: {kind: step}
`);
  assert.deepEqual(issues.map(where), ['4:31 CYCLE stages.a.inputs.x']);
  assert.equal(issues[0]?.message, 'stages feed each other in a cycle: a (p.yaml:4:3) → b (p.yaml:5:3) → c (p.yaml:6:3) → a; remove one of these inputs');
});

test('a stage that feeds itself is a cycle too; two separate cycles are two issues', () => {
  //   s ─┐    p ──► q
  //   ▲──┘    ▲─────┘
  const issues = rejected(`stages:
  p: {kind: step, inputs: {x: q.out}}
  q: {kind: step, inputs: {x: p.out}}
  s: {kind: step, inputs: {x: s.out}}
`);
  assert.deepEqual(issues.map(where), ['4:31 CYCLE stages.p.inputs.x', '6:31 CYCLE stages.s.inputs.x']);
  assert.match(issues[1]?.message ?? '', /cycle: s \(p\.yaml:6:3\) → s;/);
});

test('dangling inputs: unknown producer, undeclared output (with suggestions)', () => {
  const issues = rejected(`stages:
  data: {kind: step, config: {outs: [images, labels]}}
  train:
    kind: step
    inputs:
      imgs: dta.images
      lbls: data.label
`);
  assert.deepEqual(issues.map(where), ['8:13 DANGLING_INPUT stages.train.inputs.imgs', '9:13 DANGLING_INPUT stages.train.inputs.lbls']);
  assert.match(issues[0]?.message ?? '', /unknown stage "dta" \(did you mean "data"\?\)/);
  assert.match(issues[1]?.message ?? '', /output "label" that "data" does not produce \(did you mean "labels"\?\); it declares images, labels/);
});

test("a command stage's outputs come from its config", () => {
  const issues = rejected(`stages:
  gen: {kind: command, config: {argv: [g], outputs: {data: d.bin}}}
  use: {kind: command, inputs: {d: gen.dat}, config: {argv: [u]}}
`);
  assert.deepEqual(issues.map(where), ['5:36 DANGLING_INPUT stages.use.inputs.d']);
});

test('required inputs must be wired; inputs the kind does not take are refused', () => {
  const issues = rejected(`stages:
  src: {kind: step}
  fit:
    kind: step
    config: {needs: [data, labels]}
    inputs: {data: src.out, lables: src.out}
`);
  assert.deepEqual(issues.map(where), ['8:13 INPUT_MISSING stages.fit.inputs', '8:29 UNKNOWN_INPUT stages.fit.inputs.lables']);
  assert.match(issues[0]?.message ?? '', /needs input "labels"/);
  assert.match(issues[1]?.message ?? '', /did you mean "labels"\?/);
  // The optional input is fine, and so is any input of a command stage.
  planned(
    `stages:\n  src: {kind: step}\n  fit: {kind: step, inputs: {extra: src.out}}\n  cmd: {kind: command, inputs: {whatever: src.out}, config: {argv: [c]}}\n`,
  );
});

const SWEEP_2x3 = `stages:
  data:  {kind: step}
  train: {kind: step, inputs: {d: data.out}, config: {x: 0}}
  eval:  {kind: step, inputs: {m: train.out}, config: {x: 0}}
sweep:
  grid:
    stages.train.config.x: [1, 2]
    stages.eval.config.x: [10, 20, 30]
`;

test('2×3 grid: the shared upstream runs once for 6 arms, train twice, eval 6 times', () => {
  //   data ──► train ──► eval        train.x ∈ {1, 2}  ×  eval.x ∈ {10, 20, 30}
  const p = planned(SWEEP_2x3);
  assert.equal(p.arms.length, 6);
  assert.deepEqual(p.arms[4]?.params, { 'stages.train.config.x': 2, 'stages.eval.config.x': 20 });

  const byStage = (id: string) => p.runs.filter((r) => r.stageId === id);
  assert.equal(byStage('data').length, 1);
  assert.deepEqual(byStage('data')[0]?.arms, [0, 1, 2, 3, 4, 5]);
  assert.equal(byStage('data')[0]?.id, 'data');
  assert.deepEqual(
    byStage('train').map((r) => r.arms),
    [
      [0, 1, 2],
      [3, 4, 5],
    ],
  );
  const evals = byStage('eval');
  assert.equal(evals.length, 6);
  assert.equal(new Set(evals.map((r) => r.structuralKey)).size, 6);
  for (const r of [...byStage('train'), ...evals]) assert.equal(r.id, `${r.stageId}#${r.structuralKey.slice(0, 8)}`);
  // eval of arm 4 reads the train run of arm 4 (x=2) and has x=20.
  const e4 = evals.find((r) => r.arms.includes(4));
  const t4 = byStage('train').find((r) => r.arms.includes(4));
  assert.deepEqual(e4?.inputs, { m: { run: t4?.id, output: 'out' } });
  assert.equal((e4?.config as { x: number }).x, 20);
  // Topological order: data, then trains, then evals (arm order within a stage).
  assert.deepEqual(
    p.runs.map((r) => r.stageId),
    ['data', 'train', 'train', ...Array<string>(6).fill('eval')],
  );
});

test('arm labels use the whole path when two axes end alike', () => {
  const p = planned(SWEEP_2x3);
  assert.deepEqual(p.arms.map((a) => a.label).slice(0, 2), [
    'stages.train.config.x=1,stages.eval.config.x=10',
    'stages.train.config.x=1,stages.eval.config.x=20',
  ]);
});

test('a sweep value equal to the base config merges with it: eval does not depend on train.x', () => {
  //   data ──► eval     (train swept, but nothing reads it)
  const p = planned(`stages:
  data:  {kind: step}
  train: {kind: step, config: {x: 0}}
  eval:  {kind: step, inputs: {d: data.out}}
sweep: {grid: {stages.train.config.x: [0, 1, 2]}}
`);
  assert.deepEqual(
    p.runs.map((r) => `${r.id}:${r.arms.join('')}`),
    ['data:012', expect('train', p, 0) + ':0', expect('train', p, 1) + ':1', expect('train', p, 2) + ':2', 'eval:012'],
  );
});
function expect(stage: string, p: Plan, arm: number): string {
  return p.runs.find((r) => r.stageId === stage && r.arms.includes(arm))?.id ?? '?';
}

test('zip pairs the i-th values; ranges and the seed can be swept', () => {
  const p = planned(`stages:
  a: {kind: step, seed: 5}
sweep:
  zip:
    stages.a.config.x: {start: 0.1, stop: 0.3, step: 0.1}
    stages.a.seed: [1, 2, 3]
`);
  assert.deepEqual(
    p.arms.map((a) => a.label),
    ['x=0.1,a.seed=1', 'x=0.2,a.seed=2', 'x=0.3,a.seed=3'],
  );
  assert.deepEqual(
    p.runs.map((r) => [(r.config as { x: number }).x, r.seed]),
    [
      [0.1, 1],
      [0.2, 2],
      [0.3, 3],
    ],
  );
});

test('the seed is part of the structural key: same config, different seeds ⇒ different runs', () => {
  const p = planned(`stages:\n  a: {kind: step}\nsweep: {grid: {stages.a.seed: [1, 2]}}\n`);
  assert.equal(p.runs.length, 2);
  assert.notEqual(p.runs[0]?.structuralKey, p.runs[1]?.structuralKey);
});

test("each arm's config is re-validated; the bad sweep value is pointed at", () => {
  //   line 6:   stages.a.config.x: [1, oops, 3]
  const issues = rejected(`stages:
  a: {kind: step}
sweep:
  grid:
    stages.a.config.x: [1, oops, 3]
    stages.a.seed: [1, 2]
`);
  assert.deepEqual(issues.map(where), ['7:28 CONFIG_INVALID stages.a.config.x']);
  assert.match(issues[0]?.message ?? '', /expected number, got string "oops" \(sweep value x="oops"\)/);
});

test('a seed axis with a non-integer value is refused at the value', () => {
  const issues = rejected(`stages:\n  a: {kind: step}\nsweep:\n  axes:\n    - {path: stages.a.seed, values: [1, 2.5]}\n`);
  assert.deepEqual(issues.map(where), ['7:41 SWEEP_INVALID sweep.axes[0].values[1]']);
});

test('specs built in code: unknown kinds are reported (no positions without a source map)', () => {
  const loaded = loadSpecText(`${HEAD}stages:\n  a: {kind: step}\n`, 'p.yaml', catalog);
  assert.ok(loaded.ok);
  if (!loaded.ok) return;
  const spec = { ...loaded.value.spec, stages: loaded.value.spec.stages.map((s) => ({ ...s, kind: 'stpe' })) };
  const r = buildPlan(spec, catalog);
  assert.ok(!r.ok);
  if (!r.ok) {
    assert.deepEqual(
      r.error.map((i) => `${i.file}:${i.line}:${i.column} ${i.code}`),
      ['<spec>:0:0 UNKNOWN_STAGE_KIND'],
    );
    assert.match(r.error[0]?.message ?? '', /did you mean "step"\?/);
  }
});
