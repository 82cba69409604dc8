/**
 * Covariance-like statistics for the Fréchet benchmarks (bench/fid.ts, bench/frechet-stages.ts):
 * sample covariances of random factors with a decaying spectrum, like pool_3's, from a seeded LCG
 * so every run and every side of a comparison sees the same matrices.
 */
import type { GaussianStats } from '../metrics/activation-stats';
import { gemmNT } from '../metrics/frechet-wasm';

/** d-dimensional statistics of m samples (m > d gives a regular covariance). */
export function syntheticStats(d: number, m: number, seed: number): GaussianStats {
  let s = seed >>> 0;
  const g = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u1 = (s + 0.5) / 4294967296;
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos((2 * Math.PI * (s + 0.5)) / 4294967296);
  };
  const a = new Float64Array(d * m); // d×m, row i = samples of feature i
  for (let i = 0; i < d; i++) {
    const scale = 1 / Math.sqrt(1 + i / 16);
    for (let k = 0; k < m; k++) a[i * m + k] = scale * g();
  }
  const sigma = gemmNT(a, a, d, d, m).map((v) => v / (m - 1));
  return { dim: d, mu: Float64Array.from({ length: d }, () => 0.3 * g()), sigma };
}
