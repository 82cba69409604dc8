/** Sweep expansion, substitution and the stage graph.   node --import tsx --test test/unit/plan/sweep-graph.test.ts */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expandArms, expandAxes, findCycles, setAtPath, topoOrder } from '../../../plan/index';

test('grid: first axis slowest; zip: i-th with i-th; no sweep: one empty arm', () => {
  const { axes, problems } = expandAxes({
    mode: 'grid',
    axes: [
      { path: 'stages.a.config.sigma', values: [0.1, 0.2] },
      { path: 'stages.b.config.guidance', range: { start: 1, stop: 3, step: 1 } },
    ],
  });
  assert.deepEqual(problems, []);
  assert.deepEqual(
    expandArms('grid', axes).map((a) => a.label),
    ['sigma=0.1,guidance=1', 'sigma=0.1,guidance=2', 'sigma=0.1,guidance=3', 'sigma=0.2,guidance=1', 'sigma=0.2,guidance=2', 'sigma=0.2,guidance=3'],
  );
  const zipAxes = expandAxes({
    mode: 'zip',
    axes: [
      { path: 'stages.a.config.k', values: ['x', 'y'] },
      { path: 'stages.a.seed', values: [1, 2] },
    ],
  }).axes;
  assert.deepEqual(
    expandArms('zip', zipAxes).map((a) => a.params),
    [
      { 'stages.a.config.k': 'x', 'stages.a.seed': 1 },
      { 'stages.a.config.k': 'y', 'stages.a.seed': 2 },
    ],
  );
  assert.deepEqual(expandArms('grid', []), [{ index: 0, label: '', params: {}, valueIndex: [] }]);
});

test('axes that do not target a stage config or seed are problems', () => {
  const { axes, problems } = expandAxes({
    mode: 'grid',
    axes: [
      { path: 'failurePolicy', values: ['continue'] },
      { path: 'stages.a.seed.x', values: [1] },
    ],
  });
  assert.equal(axes.length, 0);
  assert.deepEqual(
    problems.map((p) => p.axis),
    [0, 1],
  );
});

test('setAtPath copies along the path and creates missing keys', () => {
  const base = { a: { b: 1 }, list: [1, 2] };
  const r = setAtPath(base, ['a', 'c', 'd'], 5);
  assert.deepEqual(r, { ok: true, value: { a: { b: 1, c: { d: 5 } }, list: [1, 2] } });
  assert.deepEqual(setAtPath(base, ['list', 1], 9), { ok: true, value: { a: { b: 1 }, list: [1, 9] } });
  assert.deepEqual(base, { a: { b: 1 }, list: [1, 2] }, 'the input is untouched');
});

test('setAtPath refuses paths through scalars, past list ends, or indexing a mapping', () => {
  assert.equal(setAtPath({ a: 1 }, ['a', 'b'], 2).ok, false);
  assert.equal(setAtPath({ l: [1] }, ['l', 3], 2).ok, false);
  assert.equal(setAtPath({ m: {} }, ['m', 0], 2).ok, false);
});

test('topological order with spec-order ties; cycles found per strongly connected component', () => {
  //   0 ──► 2 ──► 3        1 (isolated)
  assert.deepEqual(
    topoOrder(4, [
      { producer: 0, consumer: 2 },
      { producer: 2, consumer: 3 },
    ]),
    [0, 1, 2, 3],
  );
  //   3 ──► 1 ──► 0 ──► 3 (cycle)      2 ──► 2 (self)      4 ──► 3 (feeds the cycle, not on it)
  const edges = [
    { producer: 3, consumer: 1 },
    { producer: 1, consumer: 0 },
    { producer: 0, consumer: 3 },
    { producer: 2, consumer: 2 },
    { producer: 4, consumer: 3 },
  ];
  assert.deepEqual(findCycles(5, edges), [[0, 3, 1], [2]]);
  assert.deepEqual(
    findCycles(3, [
      { producer: 0, consumer: 1 },
      { producer: 1, consumer: 2 },
    ]),
    [],
  );
});
