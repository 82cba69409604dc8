/**
 * Independent float64 reference computations for the metric tests: deliberately different
 * algorithms from the production path (cyclic Jacobi instead of Householder + QL, Denman–Beavers
 * matrix square root of the non-symmetric product like scipy.linalg.sqrtm, plain loops instead of
 * blocked wasm products), so an agreement means something.
 */

/** Deterministic normal samples (Box–Muller on a 32-bit LCG) so tests are reproducible. */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** n×d features with correlated columns: x = z A + offset, A a fixed random mixing matrix. */
export function correlatedFeatures(n: number, d: number, seed: number, offset = 0, scale = 1): Float64Array {
  const g = gaussian(seed);
  const mix = Float64Array.from({ length: d * d }, (_, i) => (i % (d + 1) === 0 ? 1 : (0.3 * g()) / Math.sqrt(d)));
  const out = new Float64Array(n * d);
  const z = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < d; k++) z[k] = g();
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += z[k]! * mix[k * d + j]!;
      out[i * d + j] = offset + scale * s;
    }
  }
  return out;
}

export function naiveMean(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const mu = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * d + j]!;
    mu[j] = s / n;
  }
  return mu;
}

/** np.cov(x, rowvar=False): centred, divided by n − 1. */
export function naiveCov(x: ArrayLike<number>, n: number, d: number): Float64Array {
  const mu = naiveMean(x, n, d);
  const c = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[i * d + a]! - mu[a]!) * (x[i * d + b]! - mu[b]!);
      c[a * d + b] = s / (n - 1);
      c[b * d + a] = s / (n - 1);
    }
  }
  return c;
}

export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      for (let j = 0; j < n; j++) c[i * n + j]! += aik * b[k * n + j]!;
    }
  return c;
}

/** Inverse by Gauss–Jordan elimination with partial pivoting. */
export function inverse(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
    for (let j = 0; j < n; j++) {
      [m[c * n + j], m[p * n + j]] = [m[p * n + j]!, m[c * n + j]!];
      [inv[c * n + j], inv[p * n + j]] = [inv[p * n + j]!, inv[c * n + j]!];
    }
    const piv = m[c * n + c]!;
    for (let j = 0; j < n; j++) {
      m[c * n + j]! /= piv;
      inv[c * n + j]! /= piv;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c]!;
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        m[r * n + j]! -= f * m[c * n + j]!;
        inv[r * n + j]! -= f * inv[c * n + j]!;
      }
    }
  }
  return inv;
}

/** Principal square root of a matrix with positive real spectrum (Denman–Beavers iteration). */
export function sqrtmDenmanBeavers(a: Float64Array, n: number): Float64Array {
  let y = Float64Array.from(a);
  let z = new Float64Array(n * n);
  for (let i = 0; i < n; i++) z[i * n + i] = 1;
  for (let it = 0; it < 100; it++) {
    const yi = inverse(y, n);
    const zi = inverse(z, n);
    const y2 = y.map((v, i) => 0.5 * (v + zi[i]!));
    const z2 = z.map((v, i) => 0.5 * (v + yi[i]!));
    let delta = 0;
    let norm = 0;
    for (let i = 0; i < n * n; i++) {
      delta = Math.max(delta, Math.abs(y2[i]! - y[i]!));
      norm = Math.max(norm, Math.abs(y2[i]!));
    }
    y = y2;
    z = z2;
    if (delta <= 1e-15 * norm) break;
  }
  return y;
}

/** The reference formula: |μ1−μ2|² + tr Σ1 + tr Σ2 − 2 tr sqrtm(Σ1 Σ2), with sqrtm by Denman–Beavers. */
export function referenceFrechet(mu1: Float64Array, s1: Float64Array, mu2: Float64Array, s2: Float64Array, n: number): number {
  const root = sqrtmDenmanBeavers(matmul(s1, s2, n), n);
  let v = 0;
  for (let i = 0; i < n; i++) v += (mu1[i]! - mu2[i]!) ** 2 + s1[i * n + i]! + s2[i * n + i]! - 2 * root[i * n + i]!;
  return v;
}

/** Eigenvalues of a symmetric matrix by the cyclic Jacobi method. */
export function jacobiEigenvalues(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p]!;
          const akq = m[k * n + q]!;
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k]!;
          const aqk = m[q * n + k]!;
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  return Float64Array.from({ length: n }, (_, i) => m[i * n + i]!);
}

/**
 * Exact tr sqrt(Σ1 Σ2) for sample covariances with few rows: Σk = Xkᵀ Xk / (nk − 1) with Xk
 * centred, so the nonzero eigenvalues of Σ1 Σ2 are the squared singular values of
 * X1 X2ᵀ / sqrt((n1−1)(n2−1)), and the trace of the root is that matrix's nuclear norm. The
 * singular values come from Jacobi on the small Gram matrix C Cᵀ, with the centring null vector
 * projected out first so no zero eigenvalue is left to round into noise.
 */
export function exactTraceSqrtLowRank(x1: Float64Array, n1: number, x2: Float64Array, n2: number, d: number): number {
  const basis = (n: number) => {
    // Orthonormal basis (n−1 rows) of the complement of the all-ones vector (Helmert contrasts).
    const q = new Float64Array((n - 1) * n);
    for (let r = 1; r < n; r++) {
      const f = 1 / Math.sqrt(r * (r + 1));
      for (let c = 0; c < r; c++) q[(r - 1) * n + c] = f;
      q[(r - 1) * n + r] = -r * f;
    }
    return q;
  };
  const project = (x: Float64Array, n: number) => {
    const q = basis(n);
    const y = new Float64Array((n - 1) * d);
    for (let r = 0; r < n - 1; r++)
      for (let i = 0; i < n; i++) {
        const f = q[r * n + i]!;
        if (f === 0) continue;
        for (let j = 0; j < d; j++) y[r * d + j]! += f * x[i * d + j]!;
      }
    return y;
  };
  const y1 = project(x1, n1);
  const y2 = project(x2, n2);
  const m1 = n1 - 1;
  const m2 = n2 - 1;
  const c = new Float64Array(m1 * m2);
  for (let i = 0; i < m1; i++)
    for (let j = 0; j < m2; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += y1[i * d + k]! * y2[j * d + k]!;
      c[i * m2 + j] = s;
    }
  // Gram matrix of the smaller side, so it has full rank (no zero eigenvalue to round into noise).
  const small = Math.min(m1, m2);
  const g = new Float64Array(small * small);
  for (let i = 0; i < small; i++)
    for (let j = 0; j < small; j++) {
      let s = 0;
      if (m1 <= m2) for (let k = 0; k < m2; k++) s += c[i * m2 + k]! * c[j * m2 + k]!;
      else for (let k = 0; k < m1; k++) s += c[k * m2 + i]! * c[k * m2 + j]!;
      g[i * small + j] = s;
    }
  let sum = 0;
  for (const ev of jacobiEigenvalues(g, small)) sum += Math.sqrt(Math.max(ev, 0));
  return sum / Math.sqrt(m1 * m2);
}
