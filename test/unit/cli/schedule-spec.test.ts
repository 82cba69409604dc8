/** `schedule create` flags → Temporal schedule spec and overlap policy (no server needed). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOverlap, scheduleSpec } from '../../../cli/commands/schedule';

const now = new Date('2026-12-02T08:00:00Z');

test('cron and interval flags become the spec; --timezone applies to cron', () => {
  assert.deepEqual(scheduleSpec({ cron: ['0 3 * * *'], every: ['6h'], timezone: 'Europe/Paris' }, now), {
    spec: { cronExpressions: ['0 3 * * *'], intervals: [{ every: '6h' }], timezone: 'Europe/Paris' },
    once: false,
  });
});

test('--at is one exact UTC calendar time, fired once; past or combined is refused', () => {
  const { spec, once } = scheduleSpec({ cron: [], every: [], at: '2026-12-03T03:04:05Z' }, now);
  assert.equal(once, true);
  assert.deepEqual(spec.calendars, [{ year: 2026, month: 'DECEMBER', dayOfMonth: 3, hour: 3, minute: 4, second: 5 }]);
  assert.throws(() => scheduleSpec({ cron: [], every: [], at: '2026-12-01T00:00:00Z' }, now), /in the past/);
  assert.throws(() => scheduleSpec({ cron: ['* * * * *'], every: [], at: '2026-12-03T03:00:00Z' }, now), /cannot be combined/);
  assert.throws(() => scheduleSpec({ cron: [], every: [], at: 'tomorrow' }, now), /ISO time/);
});

test('no time at all, or a malformed interval, is a usage error', () => {
  assert.throws(() => scheduleSpec({ cron: [], every: [] }, now), /say when/);
  assert.throws(() => scheduleSpec({ cron: [], every: ['6 hours'] }, now), /duration/);
});

test('overlap names map to Temporal policies; default skip', () => {
  assert.equal(parseOverlap(undefined), 'SKIP');
  assert.equal(parseOverlap('buffer-one'), 'BUFFER_ONE');
  assert.equal(parseOverlap('allow-all'), 'ALLOW_ALL');
  assert.throws(() => parseOverlap('cancel'), /skip, buffer-one, buffer-all, allow-all/);
});
