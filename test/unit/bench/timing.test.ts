import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_REPS, timeSteps } from '../../../bench/threads';

/** Busy-waits `ms` (a sleep would not be a call the bench could time the same way). */
function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('timeSteps times exactly reps calls when there is no time floor', () => {
  let calls = 0;
  const t = timeSteps(() => void calls++, 3, 2);
  assert.equal(calls, 5); // 2 warm-up + 3 timed
  assert.equal(t.reps, 3);
});

test('timeSteps keeps timing past reps until the calls add up to the floor', () => {
  const t = timeSteps(() => spin(2), 3, 0, 30);
  // 2 ms calls need at least 15 of them to reach 30 ms; the medians still describe one call
  assert.ok(t.reps >= 15, `reps ${t.reps}`);
  assert.ok(t.median_ms >= 2 && t.min_ms <= t.median_ms && t.median_ms <= t.max_ms);
});

test('timeSteps stops at MAX_REPS when a call is too fast to reach the floor', () => {
  const t = timeSteps(() => undefined, 3, 0, 1e9);
  assert.equal(t.reps, MAX_REPS);
});
