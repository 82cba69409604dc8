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

test('timeSteps keeps timing past reps until the calls add up to the floor, then stops', () => {
  const t = timeSteps(() => spin(2), 3, 0, 100);
  // every call takes at least 2 ms (longer when the process is descheduled), so the floor is reached
  // after at most 50 calls, and reaching it takes more than the 3 reps asked for unless three calls
  // took over 33 ms each
  assert.ok(t.reps > 3 && t.reps <= 50, `reps ${t.reps}`);
  assert.ok(t.reps * t.max_ms >= 100, `the timed calls add up to at least the floor: ${t.reps} × max ${t.max_ms} ms`);
  assert.ok(t.median_ms >= 2 && t.min_ms <= t.median_ms && t.median_ms <= t.max_ms);
});

test('timeSteps stops at MAX_REPS when a call is too fast to reach the floor', () => {
  const t = timeSteps(() => undefined, 3, 0, 1e9);
  assert.equal(t.reps, MAX_REPS);
});
