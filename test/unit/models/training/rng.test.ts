import { test } from 'node:test';
import assert from 'node:assert/strict';
import { philox4x32, Rng, RngStreams } from '../../../../models/training/rng';

test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
  assert.deepEqual(philox4x32([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  assert.deepEqual(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  assert.deepEqual(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]), [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('a saved state (even mid-block) continues the exact same sequence', () => {
  for (const consumed of [0, 1, 2, 3, 4, 5, 7, 13]) {
    const a = Rng.fromSeed(42);
    for (let i = 0; i < consumed; i++) a.nextUint32();
    const saved = JSON.parse(JSON.stringify(a.getState())) as ReturnType<Rng['getState']>;
    const b = new Rng(saved);
    const seqA = Array.from({ length: 9 }, () => a.nextUint32());
    const seqB = Array.from({ length: 9 }, () => b.nextUint32());
    assert.deepEqual(seqB, seqA, `after ${consumed} draws`);
  }
});

test('named streams: deterministic per (seed, name), independent of each other, restorable as JSON', () => {
  const s1 = new RngStreams(7);
  const s2 = new RngStreams(7);
  const initA = Array.from({ length: 4 }, () => s1.stream('init').nextUint32());
  s2.stream('dropout').nextUint32(); // draws on another stream must not shift 'init'
  const initB = Array.from({ length: 4 }, () => s2.stream('init').nextUint32());
  assert.deepEqual(initA, initB);
  assert.notDeepEqual(
    initA,
    Array.from({ length: 4 }, () => s1.stream('order').nextUint32()),
  );
  assert.notDeepEqual(
    initA,
    Array.from({ length: 4 }, () => new RngStreams(8).stream('init').nextUint32()),
  );
  s1.stream('init').normal();
  const restored = RngStreams.fromState(JSON.parse(JSON.stringify(s1.getState())) as ReturnType<RngStreams['getState']>);
  assert.deepEqual(Array.from(restored.stream('init').permutation(10)), Array.from(s1.stream('init').permutation(10)));
  assert.equal(restored.stream('order').uniform(), s1.stream('order').uniform());
});

test('distributions: uniform in (0,1), normal moments, unbiased ints, permutations', () => {
  const r = Rng.fromSeed(1);
  const n = 20000;
  const u = Float32Array.from({ length: n }, () => r.uniform());
  assert.ok(u.every((x) => x > 0 && x < 1));
  assert.ok(Math.abs(u.reduce((a, b) => a + b, 0) / n - 0.5) < 0.01);
  const z = r.fillNormal(new Float32Array(n));
  const mean = z.reduce((a, b) => a + b, 0) / n;
  const variance = z.reduce((a, b) => a + (b - mean) ** 2, 0) / n;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `mean ${mean} var ${variance}`);
  // PyTorch's bounds are absolute values: at std 0.02 nothing is cut and the spread is the full 0.02
  // (cutting at ±2σ would give 0.88 × 0.02 = 0.0176)
  const t = r.fillTruncNormal(new Float32Array(n), 0.02);
  const tStd = Math.sqrt(t.reduce((a, b) => a + b * b, 0) / n);
  assert.ok(Math.abs(tStd - 0.02) < 0.0006, `trunc-normal(0.02) std ${tStd}`);
  // at std 1 the bounds ±2 do cut: every value within them, spread 0.88
  const t1 = r.fillTruncNormal(new Float32Array(n), 1);
  assert.ok(t1.every((x) => Math.abs(x) <= 2));
  const t1Std = Math.sqrt(t1.reduce((a, b) => a + b * b, 0) / n);
  assert.ok(Math.abs(t1Std - 0.88) < 0.02, `trunc-normal(1) std ${t1Std}`);
  assert.throws(() => r.fillTruncNormal(new Float32Array(1), 1, 0.5, 2), { code: 'CONFIG_INVALID' });
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[r.int(3)]!++;
  assert.ok(
    counts.every((c) => c > 900 && c < 1100),
    `${counts.join()}`,
  );
  const p = Array.from(r.permutation(50)).sort((a, b) => a - b);
  assert.deepEqual(p, [...Array(50).keys()]);
});

test('invalid seeds and corrupt states are rejected', () => {
  assert.throws(() => Rng.fromSeed(-1), { code: 'CONFIG_INVALID' });
  assert.throws(() => Rng.fromSeed(1.5), { code: 'CONFIG_INVALID' });
  assert.throws(() => new Rng({ algorithm: 'philox4x32-10', key: [1, 2], counter: 0, offset: 2 }), { code: 'DATA_CORRUPT' });
  assert.throws(() => new Rng({ algorithm: 'philox4x32-10', key: [1, 2 ** 32], counter: 1, offset: 0 }), { code: 'DATA_CORRUPT' });
});
