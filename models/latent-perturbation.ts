/**
 * Latent perturbation, RobusTok's robustness mechanism (dossier §3): during main training the first
 * ⌊β·B⌋ samples of every batch decode from perturbed tokens. Each of their tokens, with probability α,
 * takes a uniformly chosen code among its δ nearest (rank 0 — the clean code — included, so a perturbed
 * token keeps its code with probability 1/δ); the others keep the clean code. The VQ losses still use the
 * clean assignment; the gradient passes straight through to the encoder as for the clean path.
 *
 * α and δ follow a per-epoch anneal: ratio 1 before `anneal_start`, `end_ratio` after `anneal_end`, and
 * 1 − (e − start)/(end − start)·end_ratio between (note: continuous at `anneal_end` only when
 * end_ratio = 0.5, as upstream); α = ratio·alpha, δ = trunc(ratio·delta).
 *
 * Draws come from the Rng the caller passes (two per perturbed token: u for the Bernoulli, r for the
 * rank), so a run resumed with a restored stream perturbs the same tokens.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import type { Rng } from './training/rng';

export interface PerturbationParams {
  /** Per-token probability of drawing a random rank. */
  alpha: number;
  /** Fraction of the batch (its first ⌊β·B⌋ samples) that is perturbed. */
  beta: number;
  /** Number of nearest codes to choose among (rank 0 = the clean code included). */
  delta: number;
}

export interface PerturbationScheduleConfig {
  anneal_start: number;
  anneal_end: number;
  end_ratio: number;
  alpha: number;
  delta: number;
}

/** α(e), δ(e) of upstream's `get_random_ratio` anneal, evaluated once per epoch (0-based). */
export function perturbationSchedule(epoch: number, c: PerturbationScheduleConfig): { ratio: number; alpha: number; delta: number } {
  let ratio: number;
  if (epoch < c.anneal_start) ratio = 1;
  // upstream divides by (end − start) here; with end = start that is a ZeroDivisionError at e = start, a step for us
  else if (epoch > c.anneal_end || c.anneal_end === c.anneal_start) ratio = c.end_ratio;
  else ratio = 1 - ((epoch - c.anneal_start) / (c.anneal_end - c.anneal_start)) * c.end_ratio;
  return { ratio, alpha: ratio * c.alpha, delta: Math.trunc(ratio * c.delta) };
}

/** ⌊β·B⌋ (Python int() of a non-negative float). */
export function perturbedCount(batch: number, beta: number): number {
  return Math.floor(batch * beta);
}

/** CONFIG_INVALID unless α ∈ [0, 1], β ∈ [0, 1] and 1 ≤ δ ≤ K (no clamping: a δ above K is a config error). */
export function checkPerturbation(p: PerturbationParams, codebookSize: number): void {
  const bad = (m: string) => new PipelineError('CONFIG_INVALID', `latent perturbation: ${m}`);
  if (!(p.alpha >= 0 && p.alpha <= 1)) throw bad(`alpha must be in [0, 1], got ${p.alpha}`);
  if (!(p.beta >= 0 && p.beta <= 1)) throw bad(`beta must be in [0, 1], got ${p.beta}`);
  if (!Number.isInteger(p.delta) || p.delta < 1)
    throw bad(`delta must be an integer ≥ 1 (the annealed δ = trunc(ratio·delta) reached ${p.delta}); raise delta`);
  if (p.delta > codebookSize) throw bad(`delta ${p.delta} exceeds codebook_size ${codebookSize}; scale delta with the codebook (the paper uses ~2.4% of it)`);
}

/** The δ nearest codes of every unit-norm token zn [M, D] in the unit-norm codebook [K, D] → int32 [M, δ], nearest first. */
export function nearestCodes(zn: tf.Tensor, codebook: tf.Tensor, delta: number): tf.Tensor {
  return tf.tidy(() => {
    // the quantizer's squared distance, so rank 0 is the quantizer's nearest code
    const dist = zn
      .square()
      .sum(1, true)
      .add(codebook.square().sum(1).expandDims(0))
      .sub(tf.matMul(zn, codebook, false, true).mul(2)); // [M, K]
    return tf.topk(dist.neg(), delta, true).indices; // [M, δ] ascending distance
  });
}

/**
 * For unit-norm tokens zn [M, D] and the unit-norm codebook [K, D]: the perturbed code id of every token
 * (a uniform rank in [0, δ) with probability α, else rank 0) → int32 [M], on the device. Draws 2 numbers
 * per token, u then r, whatever u decides: the draws do not depend on the data, so the ranks are chosen in
 * JavaScript and picked out of the δ nearest with a gather, and the step needs no read back to the host
 * (which would split a graph-run step in two; compute/deferred-execution.ts).
 */
export function samplePerturbedCodes(zn: tf.Tensor, codebook: tf.Tensor, p: { alpha: number; delta: number }, rng: Rng): tf.Tensor {
  const M = zn.shape[0];
  const pick = new Int32Array(M); // flat index into the [M, δ] ranks
  for (let t = 0; t < M; t++) {
    const u = rng.uniform();
    const r = rng.int(p.delta);
    pick[t] = t * p.delta + (u > p.alpha ? 0 : r);
  }
  // inside tf.customGrad the search is not recorded for autodiff (TopK has no gradient in tfjs); the ids
  // are integers, so nothing flows back through them anyway
  const ids = tf.customGrad(((x: tf.Tensor) => ({
    value: tf.tidy(() => nearestCodes(x, codebook, p.delta).reshape([-1]).gather(tf.tensor1d(pick, 'int32'))), // [M, δ] -> [M·δ] -> [M]
    gradFunc: () => tf.zeros(x.shape), // x's shape, not x: the caller's tidy may have freed it by now
  })) as Parameters<typeof tf.customGrad>[0]);
  return ids(zn);
}
