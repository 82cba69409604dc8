/**
 * `--set path=value` overrides: applied before validation, validated the same way, and any problem
 * points into the argument ('<--set>:<argument number>:<column>').
 *   node --import tsx --test test/unit/spec/overrides.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssues, loadSpecText } from '../../../spec/index';
import { stageCatalog } from '../../../stages/catalog';

const MAP = `apiVersion: robustok.dev/v1
name: t
stages:
  train:
    kind: command
    config: {argv: [t], params: {lr: 0.1}}
`;
const LIST = `apiVersion: robustok.dev/v1
name: t
stages:
  - id: train
    kind: command
    config: {argv: [t], params: {lr: 0.1}}
`;

function load(text: string, sets: string[]) {
  return loadSpecText(text, 'p.yaml', stageCatalog, sets);
}

function summary(sets: string[], text = MAP): string[] {
  const r = load(text, sets);
  assert.equal(r.ok, false, 'expected rejection');
  return r.ok ? [] : r.error.map((i) => `${i.file}:${i.line}:${i.column} ${i.code} ${i.path}`);
}

for (const [form, text] of [
  ['map', MAP],
  ['list', LIST],
] as const) {
  test(`overrides replace, add and create nested keys (${form} form)`, () => {
    const r = load(text, [
      'stages.train.config.params.lr=0.01',
      'stages.train.retry.maximumAttempts=7',
      'failurePolicy=continue',
      'defaults.queue=gpu',
      'stages.train.config.argv[0]=python',
    ]);
    if (!r.ok) assert.fail(formatIssues(r.error));
    const train = r.value.spec.stages[0];
    assert.deepEqual(train?.config, { argv: ['python'], shell: false, env: {}, params: { lr: 0.01 }, outputs: {}, successCodes: [0] });
    assert.equal(train?.retry.maximumAttempts, 7);
    assert.equal(train?.queue, 'gpu');
    assert.equal(r.value.spec.failurePolicy, 'continue');
  });
}

test('an override cannot invent an entry of a free-form map (params, env, inputs, concurrency): exit 2 at the key', () => {
  // 'stages.train.config.params.' is 27 characters: the key starts at column 28.
  assert.deepEqual(summary(['stages.train.config.params.lrr=0.01']), ['<--set>:1:28 OVERRIDE_INVALID stages.train.config.params.lrr']);
  const r = load(MAP, ['stages.train.config.params.lrr=0.01']);
  assert.ok(!r.ok && /has no "lrr" \(did you mean "lr"\?\) \(it has: lr\)/.test(r.error[0]?.message ?? ''), !r.ok ? r.error[0]?.message : '');
  assert.deepEqual(summary(['stages.train.config.env.X=one']), ['<--set>:1:25 OVERRIDE_INVALID stages.train.config.env.X']);
  assert.deepEqual(summary(['stages.train.inputs.x=a.out']), ['<--set>:1:21 OVERRIDE_INVALID stages.train.inputs.x']);
  assert.deepEqual(summary(['concurrency.gpu=1']), ['<--set>:1:13 OVERRIDE_INVALID concurrency.gpu']);
  // Sweep keys are paths, checked as such: an override may add an axis.
  const swept = load(MAP, ['sweep.grid["stages.train.config.params.lr"]=[0.1, 0.2]']);
  if (!swept.ok) assert.fail(formatIssues(swept.error));
});

test('an overridden value is validated like the file and located in its argument', () => {
  // Argument 2; 'stages.train.seed=' is 18 characters, so the value starts at column 19.
  assert.deepEqual(summary(['name=ok', 'stages.train.seed=abc']), ['<--set>:2:19 INVALID_TYPE stages.train.seed']);
  assert.deepEqual(summary(['failurePolicy=failfast']), ['<--set>:1:15 INVALID_VALUE failurePolicy']);
  const r = load(MAP, ['failurePolicy=failfast']);
  assert.ok(!r.ok && r.error[0]?.message.includes('did you mean "failFast"?'));
});

test('an unknown key added by an override is reported at the key in the argument', () => {
  const r = load(MAP, ['failurPolicy=continue']);
  assert.deepEqual(summary(['failurPolicy=continue']), ['<--set>:1:1 UNKNOWN_KEY failurPolicy']);
  assert.ok(!r.ok && r.error[0]?.message.includes('did you mean "failurePolicy"?'));
});

test('a value that is not YAML points at the column of the problem', () => {
  assert.deepEqual(summary(['stages.train.config.argv=[a, b']), ['<--set>:1:31 OVERRIDE_INVALID stages.train.config.argv']);
});

test('unknown stage, missing "=", bad path syntax, setting inside a scalar, index past the end', () => {
  const r = load(MAP, ['stages.trian.config.x=1']);
  assert.deepEqual(summary(['stages.trian.config.x=1']), ['<--set>:1:8 OVERRIDE_INVALID stages.trian.config.x']);
  assert.ok(!r.ok && r.error[0]?.message.includes('did you mean "train"?'));
  assert.deepEqual(summary(['failurePolicy']), ['<--set>:1:14 OVERRIDE_INVALID ']);
  assert.deepEqual(summary(['stages..x=1']), ['<--set>:1:8 OVERRIDE_INVALID stages..x']);
  assert.deepEqual(summary(['name.first=x']), ['<--set>:1:6 OVERRIDE_INVALID name.first']);
  assert.deepEqual(summary(['stages.train.config.argv[3]=x']), ['<--set>:1:25 OVERRIDE_INVALID stages.train.config.argv[3]']);
  assert.deepEqual(summary(['stages.nope.kind=command'], LIST), ['<--set>:1:8 OVERRIDE_INVALID stages.nope.kind']);
});

test('issues from several arguments come after the file issues, in argument order', () => {
  const text = MAP.replace('name: t', 'name: t\nfailurPolicy: x');
  assert.deepEqual(summary(['stages.train.seed=1.5', 'stages.train.deterministic=7'], text), [
    'p.yaml:3:1 UNKNOWN_KEY failurPolicy',
    '<--set>:1:19 INVALID_TYPE stages.train.seed',
    '<--set>:2:28 INVALID_TYPE stages.train.deterministic',
  ]);
});
