/**
 * Gaussian statistics of activations, as the ADM evaluator defines them: mean, and the unbiased
 * covariance (divides by n − 1, like np.cov(x, rowvar=False)). Computed in float64 and in two
 * passes (mean first, then products of centred rows), because the one-pass Σxxᵀ − n μμᵀ form loses
 * digits when |μ| ≫ std. The products run in the wasm kernels in blocks of rows, so the centred
 * copy never exceeds one block.
 * One knowing difference: ADM takes np.mean of float32 activations, so its μ is accumulated and
 * rounded in float32; ours is float64. On float32 features this moves FID by ~1e-8 relative (checked
 * against SciPy: with a float64 mean the values are bit-identical), far below reported digits.
 */
import { PipelineError } from '../core/errors';
import { assertFinite, type FeatureMatrix } from './features';
import { gemmNTInto, WasmF64 } from './frechet-wasm';

export interface GaussianStats {
  readonly dim: number;
  /** Number of feature rows the statistics came from (undefined when read from a stats file). */
  readonly count?: number;
  readonly mu: Float64Array;
  /** dim × dim, row-major, symmetric. */
  readonly sigma: Float64Array;
}

export function featureMean(x: FeatureMatrix): Float64Array {
  const { data, n, d } = x;
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) mu[j]! += data[row + j]!;
  }
  for (let j = 0; j < d; j++) mu[j]! /= n;
  return mu;
}

export function activationStatistics(x: FeatureMatrix, source: string, rowsPerBlock = 1024): GaussianStats {
  const { data, n, d } = x;
  if (n < 2) throw new PipelineError('TENSOR_SHAPE', `${source}: ${n} feature row(s); a covariance needs at least 2 (FID is only meaningful with thousands)`);
  assertFinite(data, source, 'the features', d);
  const mu = featureMean(x);
  const nb = Math.min(rowsPerBlock, n);
  const acc = new WasmF64(d * d);
  const block = new WasmF64(d * nb);
  try {
    acc.view().fill(0);
    for (let r0 = 0; r0 < n; r0 += nb) {
      const rows = Math.min(nb, n - r0);
      // Centred block, transposed (d × rows) so the product streams contiguous rows.
      const t = block.view();
      for (let i = 0; i < rows; i++) {
        const src = (r0 + i) * d;
        for (let j = 0; j < d; j++) t[j * rows + i] = data[src + j]! - mu[j]!;
      }
      // Upper triangle only, by row strips: strip a0.. needs columns a0.. .
      for (let a0 = 0; a0 < d; a0 += 64) {
        const ab = Math.min(64, d - a0);
        gemmNTInto(
          { buf: acc, offset: a0 * d + a0, ld: d },
          { buf: block, offset: a0 * rows, ld: rows },
          { buf: block, offset: a0 * rows, ld: rows },
          ab,
          d - a0,
          rows,
        );
      }
    }
    const c = acc.view();
    const sigma = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const v = c[i * d + j]! / (n - 1);
        sigma[i * d + j] = v;
        sigma[j * d + i] = v;
      }
    }
    return { dim: d, count: n, mu, sigma };
  } finally {
    block.free();
    acc.free();
  }
}
