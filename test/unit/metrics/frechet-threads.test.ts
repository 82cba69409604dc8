import { test } from 'node:test';
import assert from 'node:assert/strict';
import { activationStatistics } from '../../../metrics/activation-stats';
import { featureMatrix } from '../../../metrics/features';
import { kernelThreadState, symmetricEigenvalues, traceSqrtProduct } from '../../../metrics/frechet-wasm';
import { kernelThreads } from '../../../metrics/frechet-threads';
import { isPipelineError } from '../../../core/errors';
import { correlatedFeatures, gaussian } from './reference-math';

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
const stats = (n: number, d: number, seed: number, offset = 0, scale = 1) =>
  activationStatistics(featureMatrix(correlatedFeatures(n, d, seed, offset, scale), n, d, 'features'), 'features');

/**
 * Runs `fn` on two threads until the helper has run some of its blocks (it starts asynchronously,
 * and on a loaded machine may miss a call or be sent away by the late-helper strikes), so the
 * comparison below really covers the threaded path.
 */
async function onTwoThreads<T>(fn: () => T): Promise<T> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const value = fn();
    if (kernelThreadState().helperBlocks > 0) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('the helper thread never took part in 50 calls');
}

// d = 520: every parallel loop (they start at 256 rows) runs, across several tridiagonalisation panels.
void test('two threads give the same tr sqrt(Σ1Σ2) as one, bit for bit, and the single-threaded kernel of 87a278b to 1e-12', async () => {
  for (const [n1, n2, d, seed, method, rank, before] of [
    [700, 650, 520, 31, 'cholesky', 520, 353.9395676450854],
    // Singular Σ2 (300 samples): the blocked pivoted Cholesky and its U S Uᵀ products.
    [700, 300, 520, 32, 'pivoted-cholesky-s2', 299, 293.6324635330727],
    [400, 350, 520, 33, 'pivoted-cholesky-s2', 349, 292.7916919064372],
  ] as const) {
    const a = stats(n1, d, seed);
    const b = stats(n2, d, seed + 50, 0.1, 0.8);
    const hint = { s1: n1 <= d, s2: n2 <= d };
    const one = traceSqrtProduct(a.sigma, b.sigma, d, hint, { threads: 1 });
    assert.equal(kernelThreadState().helperBlocks, 0, 'one thread: the helper must not run');
    const two = await onTwoThreads(() => traceSqrtProduct(a.sigma, b.sigma, d, hint, { threads: 2 }));
    assert.deepEqual(two, one, `n=${n1},${n2}: two threads vs one`);
    assert.deepEqual([one.method, one.rank], [method, rank]);
    // The value before the kernels were split into blocks for two threads (only the summation order
    // of the symmetric matrix-vector products changed).
    assert.ok(rel(one.traceSqrt, before) < 1e-12, `n=${n1},${n2}: ${one.traceSqrt} vs ${before}`);
  }
});

void test('symmetric eigenvalues: two threads equal one, bit for bit, also with small panels', async () => {
  const g = gaussian(41);
  const n = 600;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = g();
  for (const blocking of [undefined, { panel: 8, crossover: 64 }]) {
    const one = symmetricEigenvalues(a, n, blocking, { threads: 1 });
    const two = await onTwoThreads(() => symmetricEigenvalues(a, n, blocking, { threads: 2 }));
    assert.deepEqual(two, one, `blocking ${JSON.stringify(blocking)}`);
  }
});

void test('thread count: explicit, ROBUSTOK_FRECHET_THREADS, at most 2, and a bad value is a CONFIG_INVALID error', () => {
  const saved = process.env.ROBUSTOK_FRECHET_THREADS;
  try {
    delete process.env.ROBUSTOK_FRECHET_THREADS;
    assert.ok([1, 2].includes(kernelThreads()));
    assert.equal(kernelThreads(1), 1);
    assert.equal(kernelThreads(8), 2);
    process.env.ROBUSTOK_FRECHET_THREADS = '1';
    assert.equal(kernelThreads(), 1);
    assert.equal(kernelThreads(2), 2, 'an explicit count wins over the environment');
    process.env.ROBUSTOK_FRECHET_THREADS = 'two';
    assert.throws(
      () => kernelThreads(),
      (e) => isPipelineError(e, 'CONFIG_INVALID') && /ROBUSTOK_FRECHET_THREADS=two/.test(e.message),
    );
    assert.throws(
      () => kernelThreads(0),
      (e) => isPipelineError(e, 'CONFIG_INVALID'),
    );
  } finally {
    if (saved === undefined) delete process.env.ROBUSTOK_FRECHET_THREADS;
    else process.env.ROBUSTOK_FRECHET_THREADS = saved;
  }
});
