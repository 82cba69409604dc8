/**
 * Fréchet distance between two Gaussians, d² = |μ1 − μ2|² + tr Σ1 + tr Σ2 − 2 tr sqrt(Σ1 Σ2),
 * as used for FID and sFID.
 *
 * The reference (ADM evaluator, pytorch-fid, clean-fid) takes scipy.linalg.sqrtm of the
 * non-symmetric product and keeps its real part. We compute the same trace without complex
 * arithmetic: Σ1 Σ2 is similar to Lᵀ Σ2 L (Σ1 = L Lᵀ), a symmetric PSD matrix whose eigenvalues
 * we sum the square roots of (metrics/kernels/src/lib.rs). Where that differs from the reference:
 *  - the reference's eps·I retry runs only when sqrtm returns non-finite values; finite inputs
 *    (checked here) never make this method non-finite, so it has no counterpart;
 *  - the reference raises "Imaginary component" when the imaginary part of sqrtm's diagonal
 *    exceeds 1e-3; the corresponding case here is a negative eigenvalue λ with sqrt(−λ) > 1e-3
 *    (the inputs are not covariances), which raises too. Smaller negative eigenvalues are
 *    rounding noise and count as 0, as taking the real part does;
 *  - like the reference the result is not clamped at 0: a tiny negative value is possible for
 *    (near-)identical inputs.
 */
import { PipelineError } from '../core/errors';
import type { GaussianStats } from './activation-stats';
import { assertFinite } from './features';
import { traceSqrtProduct, type KernelOptions, type TraceSqrtResult } from './frechet-wasm';

export interface FrechetResult {
  readonly value: number;
  readonly meanTerm: number;
  readonly traceSqrt: number;
  readonly method: TraceSqrtResult['method'];
  readonly minEigenvalue: number;
}

/** The reference's tolerance on imaginary parts (np.allclose(..., atol=1e-3)). */
export const IMAGINARY_TOLERANCE = 1e-3;

export function frechetDistance(
  a: GaussianStats,
  b: GaussianStats,
  labels: readonly [string, string] = ['first statistics', 'second statistics'],
  options: KernelOptions = {},
): FrechetResult {
  const d = a.dim;
  for (const [s, label] of [
    [a, labels[0]],
    [b, labels[1]],
  ] as const) {
    if (s.mu.length !== s.dim || s.sigma.length !== s.dim * s.dim) {
      throw new PipelineError('TENSOR_SHAPE', `${label}: mu has ${s.mu.length} entries and sigma ${s.sigma.length}; expected ${s.dim} and ${s.dim}×${s.dim}`);
    }
    assertFinite(s.mu, label, 'mu');
    assertFinite(s.sigma, label, 'sigma', s.dim);
  }
  if (b.dim !== d) {
    throw new PipelineError('TENSOR_SHAPE', `${labels[0]} has dimension ${d} but ${labels[1]} has ${b.dim}: both must come from the same feature layer`);
  }
  let meanTerm = 0;
  for (let i = 0; i < d; i++) {
    const diff = a.mu[i]! - b.mu[i]!;
    meanTerm += diff * diff;
  }
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < d; i++) {
    tr1 += a.sigma[i * d + i]!;
    tr2 += b.sigma[i * d + i]!;
  }
  // A covariance of at most d samples has rank < d: the kernel can factor it with pivoting at once.
  const ts = traceSqrtProduct(a.sigma, b.sigma, d, { s1: a.count !== undefined && a.count <= d, s2: b.count !== undefined && b.count <= d }, options);
  if (ts.negativePivot < -1e-8) {
    throw new PipelineError(
      'DATA_CORRUPT',
      `${labels[0]} / ${labels[1]}: a sigma has a negative direction (pivot ${ts.negativePivot.toExponential(3)} of its largest variance), which would give sqrtm an imaginary component; it is not a covariance matrix: recompute the statistics`,
    );
  }
  if (ts.minEigenvalue < 0 && Math.sqrt(-ts.minEigenvalue) > IMAGINARY_TOLERANCE) {
    throw new PipelineError(
      'DATA_CORRUPT',
      `${labels[0]} / ${labels[1]}: Σ1 Σ2 has eigenvalue ${ts.minEigenvalue.toExponential(3)}, i.e. an imaginary component ${Math.sqrt(-ts.minEigenvalue).toExponential(3)} in its square root (the reference evaluator raises here too); a sigma is not a covariance matrix (not positive semi-definite): recompute the statistics`,
    );
  }
  return { value: meanTerm + tr1 + tr2 - 2 * ts.traceSqrt, meanTerm, traceSqrt: ts.traceSqrt, method: ts.method, minEigenvalue: ts.minEigenvalue };
}
