/**
 * Inception Score as the ADM evaluator computes it: softmax over the 1008 *unbiased* logits
 * (pool_3 · W, no bias), contiguous splits of `splitSize` rows (the last may be shorter), each
 * split scoring exp(mean_i KL(p_i ‖ p̄)), and IS = mean of the split scores.
 * One deliberate difference: a probability of exactly 0 contributes 0 (the limit of p log p)
 * where the reference would produce NaN; in float64 this needs logits ~745 apart.
 */
import { PipelineError } from '../core/errors';
import { assertFinite } from './features';

export interface InceptionScore {
  readonly score: number;
  readonly splitScores: readonly number[];
}

/** Row-wise softmax in float64 (max-subtracted). */
export function softmaxRows(logits: ArrayLike<number>, n: number, classes: number): Float64Array {
  const out = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    const o = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, logits[o + c]!);
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const e = Math.exp(logits[o + c]! - max);
      out[o + c] = e;
      sum += e;
    }
    for (let c = 0; c < classes; c++) out[o + c]! /= sum;
  }
  return out;
}

export function inceptionScore(probs: ArrayLike<number>, n: number, classes: number, splitSize = 5000, source = 'class probabilities'): InceptionScore {
  if (probs.length !== n * classes) throw new PipelineError('TENSOR_SHAPE', `${source}: ${probs.length} values cannot form ${n}×${classes} probabilities`);
  if (n < 1) throw new PipelineError('TENSOR_SHAPE', `${source}: no rows to score`);
  assertFinite(probs, source, 'the probabilities', classes);
  const splitScores: number[] = [];
  const pbar = new Float64Array(classes);
  for (let s0 = 0; s0 < n; s0 += splitSize) {
    const rows = Math.min(splitSize, n - s0);
    pbar.fill(0);
    for (let i = s0; i < s0 + rows; i++) for (let c = 0; c < classes; c++) pbar[c]! += probs[i * classes + c]!;
    for (let c = 0; c < classes; c++) pbar[c]! /= rows;
    let klSum = 0;
    for (let i = s0; i < s0 + rows; i++) {
      let kl = 0;
      for (let c = 0; c < classes; c++) {
        const p = probs[i * classes + c]!;
        if (p > 0) kl += p * (Math.log(p) - Math.log(pbar[c]!));
      }
      klSum += kl;
    }
    splitScores.push(Math.exp(klSum / rows));
  }
  return { score: splitScores.reduce((a, b) => a + b, 0) / splitScores.length, splitScores };
}
