import { test } from 'node:test';
import assert from 'node:assert/strict';
import { precisionRecall } from '../../../metrics/precision-recall';
import { featureMatrix } from '../../../metrics/features';
import { correlatedFeatures, gaussian } from './reference-math';

/** Brute force straight from the definition, with sorting instead of a running top-k. */
function bruteForce(ref: Float64Array, nr: number, smp: Float64Array, ns: number, d: number, k: number) {
  const dist = (x: Float64Array, i: number, y: Float64Array, j: number) => {
    let s = 0;
    for (let t = 0; t < d; t++) s += (x[i * d + t]! - y[j * d + t]!) ** 2;
    return s;
  };
  const radius = (x: Float64Array, n: number) =>
    Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => dist(x, i, x, j)).sort((a, b) => a - b)[k]!);
  const rr = radius(ref, nr);
  const rs = radius(smp, ns);
  let p = 0;
  for (let j = 0; j < ns; j++) if (rr.some((r, i) => dist(ref, i, smp, j) <= r)) p++;
  let rc = 0;
  for (let i = 0; i < nr; i++) if (rs.some((r, j) => dist(ref, i, smp, j) <= r)) rc++;
  return { precision: p / ns, recall: rc / nr };
}

void test('identical sets give precision = recall = 1', () => {
  const x = correlatedFeatures(120, 16, 1);
  const f = featureMatrix(x, 120, 16, 'x');
  const r = precisionRecall(f, f);
  assert.equal(r.precision, 1);
  assert.equal(r.recall, 1);
  assert.equal(r.k, 3);
});

void test('far-apart sets give 0 and 0', () => {
  const a = correlatedFeatures(50, 8, 1);
  const b = correlatedFeatures(60, 8, 2, 100);
  const r = precisionRecall(featureMatrix(a, 50, 8, 'a'), featureMatrix(b, 60, 8, 'b'));
  assert.equal(r.precision, 0);
  assert.equal(r.recall, 0);
});

void test('partially overlapping sets match a brute-force evaluation of the definition (k = 3 and k = 1)', () => {
  const d = 6;
  const g = gaussian(3);
  const nr = 700; // > one 512-row block, so block boundaries are exercised
  const ns = 90;
  const ref = Float64Array.from({ length: nr * d }, () => g());
  const smp = Float64Array.from({ length: ns * d }, (_, i) => 1.5 * g() + (i % d === 0 ? 1 : 0));
  for (const k of [3, 1]) {
    const ours = precisionRecall(featureMatrix(ref, nr, d, 'r'), featureMatrix(smp, ns, d, 's'), k);
    const bf = bruteForce(ref, nr, smp, ns, d, k);
    assert.equal(ours.precision, bf.precision);
    assert.equal(ours.recall, bf.recall);
    assert.ok(ours.precision > 0 && ours.precision < 1 && ours.recall > 0 && ours.recall < 1, JSON.stringify(ours));
  }
});

void test('duplicates count as neighbours at distance 0 (radius 0 when a point has k copies)', () => {
  // 4 copies of each of two points: radius 0 everywhere; a sample exactly on a point is inside.
  const ref = Float64Array.from([0, 0, 0, 0, 5, 5, 5, 5].flatMap((v) => [v, v]));
  const smp = Float64Array.from([0, 0, 0, 0, 0.1, 0, 0.1, 0].concat([0, 0]));
  const r = precisionRecall(featureMatrix(ref, 8, 2, 'r'), featureMatrix(smp, 5, 2, 's'));
  assert.equal(r.precision, 3 / 5); // the three exact copies of (0,0) only
});
