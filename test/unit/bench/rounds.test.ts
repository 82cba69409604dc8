import assert from 'node:assert/strict';
import { test } from 'node:test';
import { alternatingSides, inRounds, pickMedianRound } from '../../../bench/suite-entries';
import type { StepTiming } from '../../../bench/threads';

const timing = (ms: number): StepTiming => ({ median_ms: ms, min_ms: ms, max_ms: ms, reps: 1, cores: 1 });

test('pickMedianRound reports the round with the median ratio, and every round', () => {
  const rounds = [
    { ours: 10, torch: 5 }, // ×2
    { ours: 9, torch: 10 }, // ×0.9
    { ours: 12, torch: 10 }, // ×1.2
  ];
  const picked = pickMedianRound(
    rounds,
    (r) => r.ours,
    (r) => r.torch,
  );
  assert.equal(picked.ours, 12);
  assert.equal(picked.torch, 10);
  assert.deepEqual(
    picked.rounds?.map((r) => r.ratio),
    [2, 0.9, 1.2],
  );
});

test('pickMedianRound takes the lower middle of an even count and orders by ours_ms without PyTorch', () => {
  const even = pickMedianRound(
    [{ r: 3 }, { r: 1 }, { r: 2 }, { r: 4 }],
    (x) => x.r,
    () => 1,
  );
  assert.equal(even.r, 2);
  const alone = pickMedianRound(
    [{ r: 5 }, { r: 1 }, { r: 3 }],
    (x) => x.r,
    () => null,
  );
  assert.equal(alone.r, 3);
  assert.deepEqual(
    alone.rounds?.map((x) => x.ratio),
    [null, null, null],
  );
});

test('one round reports no rounds field', () => {
  const picked = pickMedianRound(
    [{ r: 1 }],
    (x) => x.r,
    () => 2,
  );
  assert.equal(picked.rounds, undefined);
});

test('inRounds runs both sides once per round, alternating which goes first', () => {
  const calls: string[] = [];
  let n = 0;
  const out = inRounds(
    3,
    alternatingSides(),
    () => (calls.push('ours'), timing(10 + n++)),
    () => (calls.push('torch'), timing(10)),
  );
  assert.deepEqual(calls, ['ours', 'torch', 'torch', 'ours', 'ours', 'torch']);
  assert.equal(out.rounds?.length, 3);
  assert.equal(out.ours.median_ms, 11); // ratios 1.0, 1.1, 1.2: the middle round
});
