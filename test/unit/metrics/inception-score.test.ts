import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inceptionScore, softmaxRows } from '../../../metrics/inception-score';
import { isPipelineError } from '../../../core/errors';

void test('IS of a uniform softmax is 1', () => {
  const n = 37;
  const c = 1008;
  const probs = softmaxRows(new Float64Array(n * c).fill(0.25), n, c);
  assert.ok(Math.abs(probs[5]! - 1 / c) < 1e-15);
  const r = inceptionScore(probs, n, c);
  assert.ok(Math.abs(r.score - 1) < 1e-12, String(r.score));
});

void test('IS of a balanced one-hot softmax equals the number of classes', () => {
  for (const c of [2, 10, 1008]) {
    const n = 3 * c;
    const probs = new Float64Array(n * c);
    for (let i = 0; i < n; i++) probs[i * c + (i % c)] = 1;
    const r = inceptionScore(probs, n, c);
    assert.ok(Math.abs(r.score - c) < 1e-9 * c, `${c}: ${r.score}`);
  }
});

void test('splits are contiguous chunks of splitSize rows; the last may be shorter; IS is their mean', () => {
  // 8 rows one-hot over 4 classes (split score 4), then 2 rows over 2 classes (split score 2).
  const c = 4;
  const labels = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1];
  const probs = new Float64Array(labels.length * c);
  labels.forEach((l, i) => (probs[i * c + l] = 1));
  const r = inceptionScore(probs, labels.length, c, 8);
  assert.equal(r.splitScores.length, 2);
  assert.ok(Math.abs(r.splitScores[0]! - 4) < 1e-12);
  assert.ok(Math.abs(r.splitScores[1]! - 2) < 1e-12);
  assert.ok(Math.abs(r.score - 3) < 1e-12);
});

void test('IS equals exp(mean KL(p_i || p̄)) computed by hand for a soft example', () => {
  const p = [0.7, 0.2, 0.1, 0.1, 0.3, 0.6];
  const pbar = [0.4, 0.25, 0.35];
  let kl = 0;
  for (let i = 0; i < 2; i++) for (let k = 0; k < 3; k++) kl += p[i * 3 + k]! * Math.log(p[i * 3 + k]! / pbar[k]!);
  const r = inceptionScore(p, 2, 3);
  assert.ok(Math.abs(r.score - Math.exp(kl / 2)) < 1e-14);
});

void test('softmax is shift-invariant and stable for large logits; bad shapes and NaN are rejected', () => {
  const a = softmaxRows([1000, 1001, 999], 1, 3);
  const b = softmaxRows([0, 1, -1], 1, 3);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) < 1e-15));
  assert.throws(
    () => inceptionScore([0.5, 0.5, 0.5], 2, 2),
    (e) => isPipelineError(e, 'TENSOR_SHAPE'),
  );
  assert.throws(
    () => inceptionScore([0.5, NaN], 1, 2, 5000, 'logits of x.npz'),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && /x\.npz/.test(e.message),
  );
});
