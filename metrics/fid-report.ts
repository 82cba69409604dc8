/**
 * Combines two evaluated sides (reference A, samples B, in the ADM evaluator's order) into the
 * metrics JSON: FID always, sFID when both sides have spatial statistics, IS of B when B has
 * logits, precision/recall when both sides have pool features. Pure: no I/O.
 */
import type { GaussianStats } from './activation-stats';
import type { FeatureMatrix } from './features';
import { frechetDistance } from './frechet';
import { inceptionScore, softmaxRows } from './inception-score';
import { precisionRecall } from './precision-recall';

export interface FeatureProvenance {
  /** e.g. 'inception-v3-fid-2015-12-05', or 'precomputed' for statistics/features read from files. */
  readonly network: string;
  /** 'sha256:…' of the weights, 'random-init:seed=…', or null when unknown (precomputed inputs). */
  readonly weightsDigest: string | null;
}

export interface EvalSide {
  readonly path: string;
  readonly kind: 'image-folder' | 'npz-samples' | 'npz-stats' | 'npy-features';
  readonly n: number | undefined;
  readonly stats: GaussianStats;
  readonly spatialStats?: GaussianStats;
  readonly pool?: FeatureMatrix;
  /** n × classes logits (without bias) for the Inception Score. */
  readonly logits?: { readonly data: Float32Array; readonly classes: number };
  readonly provenance: FeatureProvenance;
}

export interface FidReport {
  fid: number;
  sfid?: number;
  is?: number;
  precision?: number;
  recall?: number;
  n_a: number | null;
  n_b: number | null;
  features: FeatureProvenance;
  inputs: { a: { path: string; kind: string; features: FeatureProvenance }; b: { path: string; kind: string; features: FeatureProvenance } };
}

/** Which provenance to headline: the network that actually ran, preferring B's (the samples). */
function headline(a: FeatureProvenance, b: FeatureProvenance): FeatureProvenance {
  if (b.weightsDigest !== null) return b;
  if (a.weightsDigest !== null) return a;
  return b;
}

export function fidReport(a: EvalSide, b: EvalSide, opts: { splitSize?: number; k?: number } = {}): FidReport {
  const labels = [a.path, b.path] as const;
  const report: FidReport = {
    fid: frechetDistance(a.stats, b.stats, labels).value,
    n_a: a.n ?? null,
    n_b: b.n ?? null,
    features: headline(a.provenance, b.provenance),
    inputs: { a: { path: a.path, kind: a.kind, features: a.provenance }, b: { path: b.path, kind: b.kind, features: b.provenance } },
  };
  if (a.spatialStats && b.spatialStats) report.sfid = frechetDistance(a.spatialStats, b.spatialStats, labels).value;
  if (b.logits && b.n !== undefined) {
    report.is = inceptionScore(softmaxRows(b.logits.data, b.n, b.logits.classes), b.n, b.logits.classes, opts.splitSize ?? 5000, `logits of ${b.path}`).score;
  }
  const k = opts.k ?? 3;
  // Radii need k other points per set; with fewer, precision/recall is left out rather than failing FID.
  if (a.pool && b.pool && a.pool.n > k && b.pool.n > k) {
    const pr = precisionRecall(a.pool, b.pool, k, labels);
    report.precision = pr.precision;
    report.recall = pr.recall;
  }
  return report;
}
