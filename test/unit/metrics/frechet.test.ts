import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationStatistics } from '../../../metrics/activation-stats';
import { frechetDistance } from '../../../metrics/frechet';
import { featureMatrix } from '../../../metrics/features';
import { symmetricEigenvalues, traceSqrtProduct } from '../../../metrics/frechet-wasm';
import { isPipelineError } from '../../../core/errors';
import { correlatedFeatures, exactTraceSqrtLowRank, gaussian, jacobiEigenvalues, naiveCov, naiveMean, referenceFrechet } from './reference-math';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);
const stats = (x: Float64Array, n: number, d: number, label = 'features') => activationStatistics(featureMatrix(x, n, d, label), label);

void test('activation statistics equal np.cov-style two-pass mean/covariance (ddof = 1), also for large offsets', () => {
  for (const [n, d, offset, scale] of [
    [50, 7, 0, 1],
    [300, 33, 1e4, 1e-3],
    [2, 3, 0, 1],
  ] as const) {
    const x = correlatedFeatures(n, d, 11 + n, offset, scale);
    const s = stats(x, n, d);
    const mu = naiveMean(x, n, d);
    const cov = naiveCov(x, n, d);
    for (let i = 0; i < d; i++) assert.ok(rel(s.mu[i]!, mu[i]!) < 1e-13, `mu[${i}]`);
    let maxErr = 0;
    let maxAbs = 0;
    for (let i = 0; i < d * d; i++) {
      maxErr = Math.max(maxErr, Math.abs(s.sigma[i]! - cov[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(cov[i]!));
    }
    assert.ok(maxErr <= 1e-12 * maxAbs, `n=${n} d=${d} offset=${offset}: max |Δσ| ${maxErr} vs max |σ| ${maxAbs}`);
    assert.equal(s.count, n);
  }
});

void test('symmetric eigenvalues match cyclic Jacobi', () => {
  const g = gaussian(5);
  for (const n of [1, 2, 3, 10, 37]) {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = g();
    const ours = Array.from(symmetricEigenvalues(a, n)).sort((p, q) => p - q);
    const ref = Array.from(jacobiEigenvalues(a, n)).sort((p, q) => p - q);
    ours.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) < 1e-12 * Math.max(1, Math.abs(ref[i]!)), `n=${n} λ${i}: ${v} vs ${ref[i]}`));
  }
});

void test('blocked tridiagonalisation (small panels, sizes that are and are not panel multiples) matches cyclic Jacobi', () => {
  const g = gaussian(21);
  for (const [n, panel, crossover] of [
    [64, 8, 16],
    [77, 8, 16],
    [77, 5, 6],
    [150, 32, 128],
  ] as const) {
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = g();
    const ref = Array.from(jacobiEigenvalues(a, n)).sort((p, q) => p - q);
    const blocked = Array.from(symmetricEigenvalues(a, n, { panel, crossover })).sort((p, q) => p - q);
    const unblocked = Array.from(symmetricEigenvalues(a, n, { panel: 1, crossover: n })).sort((p, q) => p - q);
    const scale = Math.max(...ref.map(Math.abs));
    blocked.forEach((v, i) => {
      assert.ok(Math.abs(v - ref[i]!) < 1e-13 * scale, `n=${n} panel=${panel} λ${i}: ${v} vs Jacobi ${ref[i]}`);
      assert.ok(Math.abs(v - unblocked[i]!) < 1e-13 * scale, `n=${n} panel=${panel} λ${i}: ${v} vs unblocked ${unblocked[i]}`);
    });
  }
});

void test('tridiagonal eigenvalues (root-free QL): graded, split, 2×2 blocks and extreme scales match cyclic Jacobi', () => {
  const tridiagonal = (d: number[], e: number[]) => {
    const n = d.length;
    const a = new Float64Array(n * n);
    d.forEach((x, i) => (a[i * n + i] = x));
    e.forEach((x, i) => (a[i * n + i + 1] = a[(i + 1) * n + i] = x));
    return a;
  };
  const g = gaussian(33);
  const n = 40;
  const base = () => [Array.from({ length: n }, () => g()), Array.from({ length: n - 1 }, () => g())] as const;
  // [label, diagonal, off-diagonal, factor]: the matrix is factor · tridiag(d, e); the reference is
  // Jacobi on the unscaled matrix times factor (Jacobi's absolute stopping test cannot take 1e-120).
  const cases: [string, number[], number[], number][] = [
    ['graded (large first)', Array.from({ length: n }, (_, i) => 10 ** (-i / 4)), Array.from({ length: n - 1 }, (_, i) => 0.5 * 10 ** (-(i + 0.5) / 4)), 1],
    [
      'graded (large last)',
      Array.from({ length: n }, (_, i) => 10 ** (-(n - 1 - i) / 4)),
      Array.from({ length: n - 1 }, (_, i) => 0.5 * 10 ** (-(n - 1.5 - i) / 4)),
      1,
    ],
    ['split with 1×1 and 2×2 blocks', [3, 1, 2, 5, -1, 4, 0.5], [0, 0.7, 0, 2, 0, 1e-3], 1],
    ['scaled by 1e120', ...base(), 1e120],
    ['scaled by 1e-120', ...base(), 1e-120],
  ];
  for (const [label, d, e, factor] of cases) {
    const m = d.length;
    const ours = Array.from(
      symmetricEigenvalues(
        tridiagonal(
          d.map((x) => factor * x),
          e.map((x) => factor * x),
        ),
        m,
      ),
    ).sort((p, q) => p - q);
    const ref = Array.from(jacobiEigenvalues(tridiagonal(d, e), m)).sort((p, q) => p - q);
    const scale = Math.max(...ref.map(Math.abs));
    ours.forEach((v, i) => assert.ok(Math.abs(v / factor - ref[i]!) < 1e-13 * scale, `${label} λ${i}: ${v} vs ${factor * ref[i]!}`));
  }
});

void test('identical feature sets give |FID| < 1e-6', () => {
  const n = 400;
  const d = 64;
  const s = stats(correlatedFeatures(n, d, 3, 0.5, 2), n, d);
  const r = frechetDistance(s, s);
  assert.ok(Math.abs(r.value) < 1e-6, `FID(x, x) = ${r.value}`);
});

void test('equal covariances give exactly |μ1 − μ2|² (1e-9 relative)', () => {
  const n = 300;
  const d = 40;
  const s = stats(correlatedFeatures(n, d, 4), n, d);
  const g = gaussian(9);
  const mu2 = s.mu.map((m) => m + 0.3 * g());
  let expected = 0;
  for (let i = 0; i < d; i++) expected += (s.mu[i]! - mu2[i]!) ** 2;
  const r = frechetDistance(s, { dim: d, mu: mu2, sigma: s.sigma });
  assert.ok(rel(r.value, expected) < 1e-9, `${r.value} vs ${expected}`);
});

void test('random feature sets agree with the reference formula (sqrtm of Σ1Σ2) to 1e-9 relative', () => {
  for (const [n1, n2, d, seed] of [
    [200, 150, 12, 1],
    [500, 400, 48, 2],
    [90, 120, 64, 3],
    // d above the tridiagonalisation's crossover (128), not a multiple of its panel (32).
    [400, 300, 150, 4],
  ] as const) {
    const x1 = correlatedFeatures(n1, d, seed);
    const x2 = correlatedFeatures(n2, d, seed + 100, 0.2, 1.3);
    const a = stats(x1, n1, d);
    const b = stats(x2, n2, d);
    const ours = frechetDistance(a, b).value;
    const ref = referenceFrechet(a.mu, a.sigma, b.mu, b.sigma, d);
    assert.ok(rel(ours, ref) < 1e-9, `n=${n1},${n2} d=${d}: ${ours} vs ${ref} (rel ${rel(ours, ref)})`);
  }
});

void test('n < d (singular covariances): tr sqrt(Σ1Σ2) agrees with the exact low-rank value to 1e-9 relative', () => {
  for (const [n1, n2, d, seed] of [
    [20, 30, 64, 7],
    [40, 40, 96, 8],
    [64, 100, 80, 9],
    [100, 64, 80, 10],
    [300, 50, 48, 11],
    // Rank 149 > the tridiagonalisation's crossover (128): the blocked path on a pivoted factor.
    [150, 160, 200, 12],
  ] as const) {
    const x1 = correlatedFeatures(n1, d, seed);
    const x2 = correlatedFeatures(n2, d, seed + 50, 0.1, 0.8);
    const a = stats(x1, n1, d);
    const b = stats(x2, n2, d);
    const ts = traceSqrtProduct(a.sigma, b.sigma, d);
    const exact = exactTraceSqrtLowRank(x1, n1, x2, n2, d);
    assert.ok(rel(ts.traceSqrt, exact) < 1e-9, `n=${n1},${n2} d=${d}: ${ts.traceSqrt} vs ${exact} (rel ${rel(ts.traceSqrt, exact)}, ${ts.method})`);
    // Saying up front which covariance is singular (as frechetDistance does from the sample
    // counts) takes the same factorisation directly: the same numbers, bit for bit.
    const hinted = traceSqrtProduct(a.sigma, b.sigma, d, { s1: n1 <= d, s2: n2 <= d });
    assert.deepEqual([hinted.traceSqrt, hinted.method, hinted.rank], [ts.traceSqrt, ts.method, ts.rank], `n=${n1},${n2} d=${d}: hinted vs found`);
    // The FID itself then follows from exact traces and means.
    let tr = 0;
    for (let i = 0; i < d; i++) tr += a.sigma[i * d + i]! + b.sigma[i * d + i]! + (a.mu[i]! - b.mu[i]!) ** 2;
    assert.ok(rel(frechetDistance(a, b).value, tr - 2 * exact) < 1e-9);
  }
});

void test('bad inputs: dimension mismatch, NaN, a non-PSD sigma', () => {
  const d = 5;
  const a = stats(correlatedFeatures(30, d, 1), 30, d);
  const b = stats(correlatedFeatures(30, d + 1, 2), 30, d + 1);
  assert.throws(
    () => frechetDistance(a, b, ['a.npz', 'b.npz']),
    (e) => isPipelineError(e, 'TENSOR_SHAPE') && /a\.npz has dimension 5 but b\.npz has 6/.test(e.message),
  );
  const nanMu = Float64Array.from(a.mu);
  nanMu[2] = NaN;
  assert.throws(
    () => frechetDistance({ ...a, mu: nanMu }, a, ['x.npz', 'y.npz']),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && /x\.npz: mu contains NaN at index 2/.test(e.message),
  );
  const bad = Float64Array.from(a.sigma);
  for (let i = 0; i < d; i++) bad[i * d + i] = -1;
  assert.throws(
    () => frechetDistance({ ...a, sigma: bad }, a, ['x.npz', 'y.npz']),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && /imaginary component/.test(e.message),
  );
  const x = correlatedFeatures(10, 3, 1);
  x[7] = Infinity;
  assert.throws(
    () => stats(x, 10, 3, 'f.npy'),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && /f\.npy: the features contains Infinity at row 2, column 1/.test(e.message),
  );
  assert.throws(
    () => stats(correlatedFeatures(1, 3, 1), 1, 3, 'one.npy'),
    (e) => isPipelineError(e, 'TENSOR_SHAPE'),
  );
});
