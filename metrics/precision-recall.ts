/**
 * Improved precision and recall (Kynkäänniemi et al.) as the ADM evaluator's ManifoldEstimator
 * computes them with its defaults: squared Euclidean distances max(|u|² − 2u·v + |v|², 0), the
 * radius of a point is the (k+1)-th smallest distance to its own set with itself included (so the
 * k-th nearest other point, duplicates counting at distance 0), k = 3, and comparisons use ≤.
 *   precision = fraction of sample points inside some reference ball,
 *   recall    = fraction of reference points inside some sample ball.
 * Distances are float64 here; ADM computes them in float16 (float32 only if that overflows), which
 * moves its published numbers by ~1e-3 (see shared/reference/fid-reference.md §1.5).
 */
import { PipelineError } from '../core/errors';
import { assertFinite, type FeatureMatrix } from './features';
import { gemmNTInto, WasmF64 } from './frechet-wasm';

export interface PrecisionRecall {
  readonly precision: number;
  readonly recall: number;
  readonly k: number;
}

const BLOCK = 512;

class Resident {
  readonly buf: WasmF64;
  readonly norms: Float64Array;
  constructor(readonly x: FeatureMatrix) {
    const { data, n, d } = x;
    this.buf = new WasmF64(n * d);
    const v = this.buf.view();
    v.set(data);
    this.norms = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += v[i * d + j]! ** 2;
      this.norms[i] = s;
    }
  }
}

/** Calls visit(i, j, dist²) for every pair, in row blocks of `a` against all of `b`. */
function forEachDistance(a: Resident, b: Resident, visit: (rowStart: number, rows: number, dist: Float64Array) => void): void {
  const d = a.x.d;
  const nb = b.x.n;
  const g = new WasmF64(BLOCK * nb);
  try {
    for (let r0 = 0; r0 < a.x.n; r0 += BLOCK) {
      const rows = Math.min(BLOCK, a.x.n - r0);
      g.view().fill(0, 0, rows * nb);
      gemmNTInto({ buf: g, ld: nb }, { buf: a.buf, offset: r0 * d, ld: d }, { buf: b.buf, ld: d }, rows, nb, d);
      const v = g.view();
      for (let i = 0; i < rows; i++) {
        const ni = a.norms[r0 + i]!;
        for (let j = 0; j < nb; j++) {
          const o = i * nb + j;
          v[o] = Math.max(ni - 2 * v[o]! + b.norms[j]!, 0);
        }
      }
      visit(r0, rows, v);
    }
  } finally {
    g.free();
  }
}

function radii(x: Resident, k: number): Float64Array {
  const { n, d } = x.x;
  if (n <= k) throw new PipelineError('TENSOR_SHAPE', `precision/recall with k = ${k} needs more than ${k} points per set, got ${n}`);
  // The k+1 smallest distances of every row (self included), kept sorted by insertion. The
  // distance matrix is symmetric, so each block row r0.. is computed only against columns ≥ r0 and
  // a value off the diagonal block updates both its row and its column.
  const kk = k + 1;
  const best = new Float64Array(n * kk).fill(Infinity);
  const insert = (row: number, v: number) => {
    const o = row * kk;
    if (!(v < best[o + k]!)) return;
    let p = k;
    while (p > 0 && best[o + p - 1]! > v) {
      best[o + p] = best[o + p - 1]!;
      p--;
    }
    best[o + p] = v;
  };
  const g = new WasmF64(BLOCK * n);
  try {
    for (let r0 = 0; r0 < n; r0 += BLOCK) {
      const rows = Math.min(BLOCK, n - r0);
      const cols = n - r0;
      g.view().fill(0, 0, rows * cols);
      gemmNTInto({ buf: g, ld: cols }, { buf: x.buf, offset: r0 * d, ld: d }, { buf: x.buf, offset: r0 * d, ld: d }, rows, cols, d);
      const v = g.view();
      for (let i = 0; i < rows; i++) {
        const ni = x.norms[r0 + i]!;
        for (let jj = 0; jj < cols; jj++) {
          const dist = Math.max(ni - 2 * v[i * cols + jj]! + x.norms[r0 + jj]!, 0);
          insert(r0 + i, dist);
          if (jj >= rows) insert(r0 + jj, dist);
        }
      }
    }
  } finally {
    g.free();
  }
  return Float64Array.from({ length: n }, (_, i) => best[i * kk + k]!);
}

/** Fraction of points of `probe` that lie within some ball (centre in `centres`, radius r). */
function coverage(probe: Resident, centres: Resident, r: Float64Array): number {
  const nc = centres.x.n;
  let inside = 0;
  forEachDistance(probe, centres, (_r0, rows, dist) => {
    for (let i = 0; i < rows; i++) {
      const o = i * nc;
      for (let j = 0; j < nc; j++) {
        if (dist[o + j]! <= r[j]!) {
          inside++;
          break;
        }
      }
    }
  });
  return inside / probe.x.n;
}

export function precisionRecall(
  reference: FeatureMatrix,
  samples: FeatureMatrix,
  k = 3,
  labels: readonly [string, string] = ['reference features', 'sample features'],
): PrecisionRecall {
  if (reference.d !== samples.d) throw new PipelineError('TENSOR_SHAPE', `${labels[0]} has dimension ${reference.d} but ${labels[1]} has ${samples.d}`);
  assertFinite(reference.data, labels[0], 'the features', reference.d);
  assertFinite(samples.data, labels[1], 'the features', samples.d);
  const ref = new Resident(reference);
  const smp = new Resident(samples);
  try {
    const rRef = radii(ref, k);
    const rSmp = radii(smp, k);
    return { precision: coverage(smp, ref, rRef), recall: coverage(ref, smp, rSmp), k };
  } finally {
    ref.buf.free();
    smp.buf.free();
  }
}
