/** Paths, suggestions, durations, ranges.   node --import tsx --test test/unit/spec/helpers.test.ts */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationMs } from '../../../spec/duration';
import { formatPath, parsePath } from '../../../spec/path';
import { closest, editDistance } from '../../../spec/suggest';
import { rangeCount, rangeValues } from '../../../spec/sweep-values';

test('paths round-trip through parse and format', () => {
  for (const text of ['stages.train.config.lr', 'sweep.axes[0].values[2]', 'sweep.grid["stages.a.config.k"]', 'a-b._c[10]']) {
    const p = parsePath(text);
    assert.ok(p.ok, text);
    if (p.ok) assert.equal(formatPath(p.value.segments), text);
  }
  const dotted = parsePath('config.argv.1');
  assert.ok(dotted.ok && dotted.value.segments[2] === 1, 'a numeric segment after a dot is an index');
});

test('bad paths say where', () => {
  const cases: [string, number][] = [
    ['', 0],
    ['a..b', 2],
    ['a.', 1],
    ['a[x]', 2],
    ['a["b', 1],
    ['a[0]b', 4],
  ];
  for (const [text, offset] of cases) {
    const p = parsePath(text);
    assert.ok(!p.ok, text);
    if (!p.ok) assert.equal(p.error.offset, offset, text);
  }
});

test('suggestions: typos, swaps and case are caught; unrelated words are not', () => {
  assert.equal(editDistance('trian', 'train'), 1);
  assert.equal(closest('cofig', ['kind', 'config', 'inputs']), 'config');
  assert.equal(closest('FAILFAST', ['failFast', 'continue']), 'failFast');
  assert.equal(closest('banana', ['kind', 'config']), undefined);
});

test('durations in the ms format, with a unit', () => {
  assert.equal(durationMs('30s'), 30_000);
  assert.equal(durationMs('1 minute'), 60_000);
  assert.equal(durationMs('1.5h'), 5_400_000);
  assert.equal(durationMs('250ms'), 250);
  for (const bad of ['30', '0s', '2 hourz', '-1s', 's', '']) assert.equal(durationMs(bad), undefined, bad);
});

test('ranges are inclusive and float-safe', () => {
  assert.deepEqual(rangeValues({ start: 0.1, stop: 0.5, step: 0.1 }), [0.1, 0.2, 0.3, 0.4, 0.5]);
  assert.deepEqual(rangeValues({ start: 1, stop: 0, step: -0.25 }), [1, 0.75, 0.5, 0.25, 0]);
  assert.deepEqual(rangeValues({ start: 0, stop: 1, step: 0.3 }), [0, 0.3, 0.6, 0.9]);
  assert.deepEqual(rangeValues({ start: 2, stop: 2, step: 1 }), [2]);
  assert.equal(rangeCount({ start: 0, stop: 1, step: 0 }).ok, false);
  assert.equal(rangeCount({ start: 0, stop: 1, step: -1 }).ok, false);
  assert.equal(rangeCount({ start: 0, stop: 1e6, step: 1 }).ok, false);
  assert.deepEqual(rangeValues({ start: 0, stop: 1, step: -1 }), []);
});
