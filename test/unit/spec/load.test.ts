/**
 * Spec loading: every kind of problem as data with its exact line:column, defaults resolution,
 * both stage forms, both sweep forms.   node --import tsx --test test/unit/spec/load.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIssues, loadSpecText } from '../../../spec/index';
import type { LoadedSpec, SpecIssue } from '../../../spec/types';
import type { Result } from '../../../core/result';
import { stageCatalog } from '../../../stages/catalog';

/** Line:column-exact issue summaries: 'line:col CODE path'. */
function issues(r: Result<LoadedSpec, SpecIssue[]>): string[] {
  assert.equal(r.ok, false, 'expected the spec to be rejected');
  return r.ok ? [] : r.error.map((i) => `${i.file === 'p.yaml' ? '' : `${i.file}:`}${i.line}:${i.column} ${i.code} ${i.path}`);
}

function load(text: string, overrides: string[] = []) {
  return loadSpecText(text, 'p.yaml', stageCatalog, overrides);
}

function accepted(text: string, overrides: string[] = []): LoadedSpec {
  const r = load(text, overrides);
  if (!r.ok) assert.fail(formatIssues(r.error));
  return r.value;
}

const HEAD = 'apiVersion: robustok.dev/v1\nname: t\n';

const MAP_FORM = `${HEAD}stages:
  make:
    kind: command
    config:
      argv: [make-data, '\${outputs.data}']
      outputs: {data: d.bin}
  train:
    kind: command
    inputs: {data: make.data}
    retry: {maximumAttempts: 5}
    config: {argv: [train]}
`;

test('map form: stages in file order, every default resolved', () => {
  const { spec } = accepted(MAP_FORM);
  assert.deepEqual(
    spec.stages.map((s) => s.id),
    ['make', 'train'],
  );
  const train = spec.stages[1];
  assert.deepEqual(train, {
    id: 'train',
    kind: 'command',
    // The kind's schema filled its own defaults in.
    config: { argv: ['train'], shell: false, env: {}, params: {}, outputs: {}, successCodes: [0] },
    inputs: { data: 'make.data' },
    queue: 'cpu',
    resources: {},
    retry: { maximumAttempts: 5, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
    timeouts: { startToClose: '2h', heartbeat: '2m' },
    checkpointEvery: 0,
    deterministic: true,
    seed: 0,
  });
  assert.equal(spec.failurePolicy, 'failFast');
  assert.deepEqual(spec.concurrency, {});
  assert.equal(spec.sweep, undefined);
});

test('list form means the same as the map form', () => {
  const list = accepted(`${HEAD}stages:
  - id: make
    kind: command
    config:
      argv: [make-data, '\${outputs.data}']
      outputs: {data: d.bin}
  - id: train
    kind: command
    inputs: {data: make.data}
    retry: {maximumAttempts: 5}
    config: {argv: [train]}
`);
  assert.deepEqual(list.spec, accepted(MAP_FORM).spec);
});

test('resources: gpus, memory (with units) and cpus are accepted; defaults merge name by name, the stage wins', () => {
  const { spec } = accepted(`${HEAD}defaults:
  resources: {memory: 16GiB, cpus: 2}
stages:
  a: {kind: command, config: {argv: [a]}}
  b:
    kind: command
    resources: {gpus: 1, cpus: 0.5}
    config: {argv: [b]}
  c: {kind: command, resources: {memory: 536870912}, config: {argv: [c]}}
`);
  assert.deepEqual(
    spec.stages.map((s) => s.resources),
    [
      { memory: '16GiB', cpus: 2 },
      { memory: '16GiB', cpus: 0.5, gpus: 1 },
      { memory: 536870912, cpus: 2 },
    ],
  );
  const list = accepted(`${HEAD}stages:\n  - {id: t, kind: command, resources: {gpus: 2, memory: 512MiB}, config: {argv: [t]}}\n`);
  assert.deepEqual(list.spec.stages[0]?.resources, { gpus: 2, memory: '512MiB' });
});

test('resources: bad units, fractional gpus, zero cpus and unknown names are refused at their line:column', () => {
  const r = load(`${HEAD}defaults:
  resources: {memory: 16}
stages:
  a:
    kind: command
    resources: {gpus: 1.5, memory: 12 parsecs, cpus: 0, gpu: 1}
    config: {argv: [a]}
  b: {kind: command, resources: {memory: [1]}, config: {argv: [b]}}
`);
  assert.deepEqual(issues(r), [
    '4:23 INVALID_VALUE defaults.resources.memory',
    '8:23 INVALID_TYPE stages.a.resources.gpus',
    '8:36 INVALID_VALUE stages.a.resources.memory',
    '8:54 INVALID_VALUE stages.a.resources.cpus',
    '8:57 UNKNOWN_KEY stages.a.resources.gpu',
    '10:42 INVALID_VALUE stages.b.resources.memory',
  ]);
  const msg = r.ok ? '' : formatIssues(r.error);
  assert.match(msg, /memory 16 is 16 bytes: write the unit, e\.g\. 16GiB/);
  assert.match(msg, /"12 parsecs" is not a memory size .*\(units: B, KB, MB, GB, TB, KiB, MiB, GiB, TiB\)/);
  assert.match(msg, /unknown key "gpu" \(did you mean "gpus"\?\)/);
  assert.match(msg, /memory is a size such as 16GiB or 512MiB/);
});

test('--set reaches resources by name (a misspelt one is UNKNOWN_KEY), and its units are checked too', () => {
  const text = `${HEAD}stages:\n  a: {kind: command, config: {argv: [a]}}\n`;
  assert.deepEqual(accepted(text, ['stages.a.resources.memory=8GiB', 'stages.a.resources.gpus=1']).spec.stages[0]?.resources, { memory: '8GiB', gpus: 1 });
  assert.deepEqual(issues(load(text, ['stages.a.resources.memory=8 bananas'])), ['<--set>:1:27 INVALID_VALUE stages.a.resources.memory']);
  assert.equal(issues(load(text, ['stages.a.resources.gpu=1']))[0]?.includes('UNKNOWN_KEY'), true);
});

test('defaults apply field by field; the stage wins', () => {
  const { spec } = accepted(`${HEAD}defaults:
  queue: cpu
  retry: {maximumAttempts: 1, maximumInterval: 5m}
  timeouts: {heartbeat: 30s}
failurePolicy: continue
concurrency: {gpu: 1}
stages:
  a: {kind: command, config: {argv: [a]}}
  b:
    kind: command
    queue: gpu
    retry: {initialInterval: 10s}
    timeouts: {startToClose: 1 minute}
    checkpointEvery: 100
    deterministic: false
    seed: 42
    config: {argv: [b]}
`);
  const [a, b] = spec.stages;
  assert.equal(a?.queue, 'cpu');
  assert.deepEqual(a?.retry, { maximumAttempts: 1, initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' });
  assert.deepEqual(a?.timeouts, { startToClose: '2h', heartbeat: '30s' });
  assert.equal(b?.queue, 'gpu');
  assert.deepEqual(b?.resources, {});
  assert.deepEqual(b?.retry, { maximumAttempts: 1, initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '5m' });
  assert.deepEqual(b?.timeouts, { startToClose: '1 minute', heartbeat: '30s' });
  assert.deepEqual([b?.checkpointEvery, b?.deterministic, b?.seed], [100, false, 42]);
  assert.equal(spec.failurePolicy, 'continue');
  assert.deepEqual(spec.concurrency, { gpu: 1 });
});

test('YAML syntax errors carry the parser position', () => {
  assert.deepEqual(issues(load(`${HEAD}stages:\n  a: {kind: command\n`)), ['5:1 YAML_SYNTAX ']);
  assert.deepEqual(issues(load(`${HEAD}stages:\n  a:\n    kind: command\n   config: {}\n`)), ['6:1 YAML_SYNTAX ']);
});

test('unknown keys are rejected at the key, with a suggestion', () => {
  const r = load(`${HEAD}stages:
  a:
    kind: command
    cofig: {argv: [x]}
failurPolicy: continue
`);
  // No config at all: the command kind's required argv is missing (reported at the stage).
  assert.deepEqual(issues(r), ['5:5 CONFIG_INVALID stages.a.config.argv', '6:5 UNKNOWN_KEY stages.a.cofig', '7:1 UNKNOWN_KEY failurPolicy']);
  assert.ok(!r.ok && r.error[1]?.message.includes('did you mean "config"?'));
  assert.ok(!r.ok && r.error[2]?.message.includes('did you mean "failurePolicy"?'));
});

test('wrong types and missing keys point at the value / the enclosing mapping', () => {
  const r = load(`apiVersion: robustok.dev/v2
stages:
  a:
    kind: command
    seed: lots
    deterministic: yes
    config: {argv: [x]}
`);
  assert.deepEqual(issues(r), [
    '1:1 MISSING_KEY name',
    '1:13 INVALID_VALUE apiVersion',
    '5:11 INVALID_TYPE stages.a.seed',
    '6:20 INVALID_TYPE stages.a.deterministic',
  ]);
  assert.ok(!r.ok && r.error[1]?.message.includes('robustok.dev/v1'));
  assert.ok(!r.ok && r.error[2]?.message.includes('got string "lots"'));
});

test('a spec that is not a mapping, and one without stages', () => {
  assert.deepEqual(issues(load('- 1\n- 2\n')), ['1:1 INVALID_TYPE ']);
  assert.deepEqual(issues(load(HEAD)), ['1:1 MISSING_KEY stages']);
});

test('unknown stage kind suggests the closest known kind', () => {
  const r = load(`${HEAD}stages:\n  a:\n    kind: comand\n    config: {argv: [x]}\n`);
  assert.deepEqual(issues(r), ['5:11 UNKNOWN_STAGE_KIND stages.a.kind']);
  assert.match(r.ok ? '' : (r.error[0]?.message ?? ''), /did you mean "command"\?.*known kinds: command/);
});

test("stage config is checked by its kind's schema, at positions inside config", () => {
  const r = load(`${HEAD}stages:
  a:
    kind: command
    config:
      argv: []
      shell: maybe
      outptus: {x: y}
      outputs: {x: /abs}
`);
  assert.deepEqual(issues(r), [
    '7:13 CONFIG_INVALID stages.a.config.argv',
    '8:14 CONFIG_INVALID stages.a.config.shell',
    '9:7 CONFIG_INVALID stages.a.config.outptus',
    '10:20 CONFIG_INVALID stages.a.config.outputs.x',
  ]);
  assert.ok(!r.ok && r.error[2]?.message.includes('did you mean "outputs"?'));
});

test('a config refinement (shell needs one script) is reported too', () => {
  assert.deepEqual(issues(load(`${HEAD}stages:\n  a:\n    kind: command\n    config: {shell: true, argv: [a, b]}\n`)), [
    '6:33 CONFIG_INVALID stages.a.config.argv',
  ]);
});

test('duplicated stage ids: map form (repeated key) and list form (repeated id)', () => {
  assert.deepEqual(issues(load(`${HEAD}stages:\n  a: {kind: command, config: {argv: [x]}}\n  a: {kind: command, config: {argv: [y]}}\n`)), [
    '5:3 DUPLICATE_STAGE_ID stages.a',
  ]);
  assert.deepEqual(issues(load(`${HEAD}stages:\n  - {id: a, kind: command, config: {argv: [x]}}\n  - {id: a, kind: command, config: {argv: [y]}}\n`)), [
    '5:10 DUPLICATE_STAGE_ID stages[1].id',
  ]);
  assert.deepEqual(issues(load(`${HEAD}stages:\n  a: {kind: command, kind: command, config: {argv: [x]}}\n`)), ['4:22 DUPLICATE_KEY stages.a.kind']);
});

test('durations: units required, validated at the value', () => {
  const r = load(`${HEAD}stages:
  a:
    kind: command
    timeouts: {startToClose: 90, heartbeat: 2 hourz}
    retry: {initialInterval: 1m, maximumInterval: 10s}
    config: {argv: [x]}
`);
  assert.deepEqual(issues(r), ['6:30 INVALID_TYPE stages.a.timeouts.startToClose', '6:45 INVALID_VALUE stages.a.timeouts.heartbeat']);
  const r2 = load(`${HEAD}stages:\n  a:\n    kind: command\n    retry: {initialInterval: 1m, maximumInterval: 10s}\n    config: {argv: [x]}\n`);
  assert.deepEqual(issues(r2), ['6:12 INVALID_VALUE stages.a.retry']);
});

test('input references must look like <stage>.<output>', () => {
  assert.deepEqual(issues(load(`${HEAD}stages:\n  a:\n    kind: command\n    inputs: {x: nodot}\n    config: {argv: [x]}\n`)), [
    '6:17 INVALID_VALUE stages.a.inputs.x',
  ]);
});

const SWEEP_STAGES = `${HEAD}stages:
  train:
    kind: command
    config: {argv: [t], params: {lr: 0.1}}
`;

test('sweep, short form: grid of lists and ranges', () => {
  const { spec } = accepted(`${SWEEP_STAGES}sweep:
  grid:
    stages.train.config.params.lr: [0.1, 0.2]
    stages.train.seed: {start: 1, stop: 3, step: 1}
`);
  assert.deepEqual(spec.sweep, {
    mode: 'grid',
    axes: [
      { path: 'stages.train.config.params.lr', values: [0.1, 0.2] },
      { path: 'stages.train.seed', range: { start: 1, stop: 3, step: 1 } },
    ],
  });
});

test('sweep, canonical form: mode and axes', () => {
  const { spec } = accepted(`${SWEEP_STAGES}sweep:
  mode: zip
  axes:
    - {path: stages.train.config.params.lr, values: [0.1, 0.2]}
    - {path: 'stages.train.config.argv[0]', values: [t1, t2]}
`);
  assert.equal(spec.sweep?.mode, 'zip');
  assert.equal(spec.sweep?.axes.length, 2);
});

test('sweep paths must exist in the target stage config (or name a known stage)', () => {
  const r = load(`${SWEEP_STAGES}sweep:
  grid:
    stages.train.config.parms.lr: [1]
    stages.trian.config.params.lr: [1]
    failurePolicy: [failFast]
`);
  assert.deepEqual(issues(r), [
    '9:5 SWEEP_INVALID sweep.grid["stages.train.config.parms.lr"]',
    '10:5 SWEEP_INVALID sweep.grid["stages.trian.config.params.lr"]',
    '11:5 SWEEP_INVALID sweep.grid.failurePolicy',
  ]);
  assert.ok(!r.ok && r.error[0]?.message.includes('did you mean params?'));
  assert.ok(!r.ok && r.error[1]?.message.includes('did you mean "train"?'));
});

test('sweep: zip axes of unequal length, bad ranges, both or neither of values/range', () => {
  assert.deepEqual(issues(load(`${SWEEP_STAGES}sweep:\n  zip:\n    stages.train.config.params.lr: [1, 2]\n    stages.train.seed: [1]\n`)), [
    '8:3 SWEEP_INVALID sweep.mode',
  ]);
  assert.deepEqual(issues(load(`${SWEEP_STAGES}sweep:\n  grid:\n    stages.train.seed: {start: 3, stop: 1, step: 1}\n`)), [
    '9:24 SWEEP_INVALID sweep.grid["stages.train.seed"]',
  ]);
  assert.deepEqual(issues(load(`${SWEEP_STAGES}sweep:\n  axes:\n    - {path: stages.train.seed}\n`)), ['9:7 SWEEP_INVALID sweep.axes[0]']);
  assert.deepEqual(issues(load(`${SWEEP_STAGES}sweep:\n  grid: {}\n  zip: {}\n`)), ['8:3 SWEEP_INVALID sweep']);
});

test('formatIssues prints file:line:column, message, code and path', () => {
  const r = load(`${HEAD}stages:\n  a:\n    kind: comand\n    config: {}\n`);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(
    formatIssues(r.error),
    `p.yaml:5:11: unknown stage kind "comand" (did you mean "command"?); known kinds: ${stageCatalog.kinds().join(', ')} [UNKNOWN_STAGE_KIND]\n  → at stages.a.kind`,
  );
});

test('the source map locates paths in both stage forms and resolves aliases of the short sweep form', () => {
  const { sourceMap } = accepted(`${SWEEP_STAGES}sweep:\n  grid:\n    stages.train.config.params.lr: [0.1, 0.2]\n`);
  assert.deepEqual(sourceMap.locate('stages.train.config.params.lr'), { file: 'p.yaml', line: 6, column: 38 });
  assert.deepEqual(sourceMap.locate('stages.train', 'key'), { file: 'p.yaml', line: 4, column: 3 });
  assert.deepEqual(sourceMap.locate('sweep.axes[0].values[1]'), { file: 'p.yaml', line: 9, column: 42 });
  assert.deepEqual(sourceMap.locate('sweep.axes[0].path'), { file: 'p.yaml', line: 9, column: 5 });
  // A path that does not exist resolves to its nearest ancestor.
  assert.deepEqual(sourceMap.locate('stages.train.inputs.x'), { file: 'p.yaml', line: 5, column: 5 });
});
