/**
 * Tensor test helpers shared by every suite that touches tfjs.
 *
 * `expectNoTensorLeak` is the leak check the architecture asks for (§6): it runs `fn`, then asserts that
 * the engine holds exactly as many tensors as before. Backends keep their own registries (the wasm one
 * frees memory only through `dispose`), so `tf.memory().numTensors` is the count that matters.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';

export interface LeakCheckOptions {
  /** Tensors `fn` is allowed to leave behind on purpose (e.g. it returns one the test disposes). */
  allowed?: number;
  /** Prefix for the assertion message, to say which step leaked. */
  label?: string;
}

/**
 * Runs `fn` (sync or async) and fails if it leaves tensors alive. Returns what `fn` returned, so a
 * test can inspect a plain-JS result. Variables created inside `fn` count as leaks unless disposed.
 */
export async function expectNoTensorLeak<T>(fn: () => T | Promise<T>, opts: LeakCheckOptions = {}): Promise<T> {
  const before = tf.memory().numTensors;
  const result = await fn();
  const after = tf.memory().numTensors;
  const leaked = after - before - (opts.allowed ?? 0);
  assert.equal(leaked, 0, `${opts.label ?? 'tensor leak'}: ${leaked} tensor(s) left alive (${before} before, ${after} after)`);
  return result;
}

/** Deterministic pseudo-random floats in [-scale, scale) (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomValues(size: number, seed: number, scale = 1): Float32Array {
  const rnd = seededRandom(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (rnd() * 2 - 1) * scale;
  return out;
}

/**
 * Max |a-b| / max(max|b|, floor): one relative error per tensor, robust to entries near zero
 * (an element-wise relative error explodes on sums that cancel).
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  let maxDiff = 0;
  let maxRef = floor;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] as number;
    const d = Math.abs((actual[i] as number) - e);
    if (Number.isNaN(d)) return Number.NaN; // a NaN anywhere is a failure, never averaged away
    if (d > maxDiff) maxDiff = d;
    if (Math.abs(e) > maxRef) maxRef = Math.abs(e);
  }
  return maxDiff / maxRef;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4, label = 'values'): void {
  const err = relativeError(actual, expected);
  assert.ok(err < tol, `${label}: relative error ${err.toExponential(3)} ≥ ${tol}`);
}
