/**
 * Finite-difference gradient check shared by the layer tests. The loss is Σ out ⊙ W for a fixed random
 * W (so every output element matters), analytic gradients come from tf.variableGrads, numeric ones from
 * central differences of the same float32 forward at a few sampled coordinates per tensor. Relative
 * error is max|Δ| / max|g| per tensor (helpers' relativeError), so float32 noise on tiny entries cannot
 * fail the check while a wrong formula (errors ~O(1)) always does.
 */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { randomValues, relativeError } from '../../../helpers/tensors';

export async function useCpuBackend(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export function randn(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.tensor(
    randomValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
      scale,
    ),
    shape,
  );
}

export interface GradCheckOptions {
  /** Coordinates sampled per tensor (default 12). */
  samples?: number;
  /** Finite-difference step (default 1e-2; float32 round-off dominates below ~1e-3). */
  eps?: number;
  /** Allowed relative error (default 2e-2). */
  tol?: number;
  seed?: number;
}

/**
 * Checks d(Σ forward() ⊙ W)/d(v) for every v in `vars` (tf.Variables: model parameters, or inputs
 * wrapped with tf.variable). `forward` must be deterministic.
 */
export function gradCheck(forward: () => tf.Tensor, vars: Map<string, tf.Variable>, o: GradCheckOptions = {}): void {
  const samples = o.samples ?? 12;
  const eps = o.eps ?? 1e-2;
  const tol = o.tol ?? 2e-2;
  const probe = tf.tidy(() => {
    const out = forward();
    return tf.tensor(randomValues(out.size, o.seed ?? 7), out.shape);
  });
  const loss = () => tf.tidy(() => forward().mul(probe).sum<tf.Scalar>());
  const list = [...vars.values()];
  const { grads, value } = tf.variableGrads(loss, list);
  value.dispose();
  try {
    for (const [name, v] of vars) {
      const g = grads[v.name];
      assert.ok(g, `no gradient for ${name}`);
      const analytic = g.dataSync();
      const base = v.dataSync().slice();
      const picks = pickIndices(v.size, samples);
      const numeric: number[] = [];
      const chosen: number[] = [];
      for (const i of picks) {
        const at = (delta: number) => {
          const p = base.slice();
          p[i] = (p[i] as number) + delta;
          const pt = tf.tensor(p, v.shape);
          v.assign(pt);
          pt.dispose();
          const l = loss();
          const r = l.dataSync()[0] as number;
          l.dispose();
          return r;
        };
        numeric.push((at(eps) - at(-eps)) / (2 * eps));
        chosen.push(analytic[i] as number);
      }
      // restore, then compare
      const restore = tf.tensor(base, v.shape);
      v.assign(restore);
      restore.dispose();
      const err = relativeError(chosen, numeric, 1e-3);
      assert.ok(
        err < tol,
        `gradient of ${name}: relative error ${err.toExponential(3)} ≥ ${tol}\n analytic ${chosen.map((x) => x.toFixed(5)).join(' ')}\n numeric  ${numeric.map((x) => x.toFixed(5)).join(' ')}`,
      );
    }
  } finally {
    tf.dispose(Object.values(grads));
    probe.dispose();
  }
}

function pickIndices(size: number, n: number): number[] {
  if (size <= n) return [...Array(size).keys()];
  const step = size / n;
  return [...Array(n).keys()].map((k) => Math.floor(k * step + step / 2));
}

/** Wraps tensors as variables for gradCheck (disposes the inputs). Dispose the result when done. */
export function asVars(named: Record<string, tf.Tensor>): Map<string, tf.Variable> {
  const m = new Map<string, tf.Variable>();
  for (const [k, t] of Object.entries(named)) {
    m.set(k, tf.variable(t));
    t.dispose();
  }
  return m;
}

/** A random-valued tf.Variable (the usual way to make a layer input differentiable in gradCheck). */
export function randVar(shape: number[], seed: number, scale = 1): tf.Variable {
  const t = randn(shape, seed, scale);
  const v = tf.variable(t);
  t.dispose();
  return v;
}

/** v.assign(t) then frees t (assign copies the reference count, it does not take ownership). */
export function setVar(v: tf.Variable, t: tf.Tensor | number[]): void {
  const value = Array.isArray(t) ? tf.tensor(t, v.shape) : t;
  v.assign(value);
  value.dispose();
}

/** Multiplies every parameter by `k` (tests use larger-than-init weights to exercise nonlinearities). */
export function scaleParams(params: Map<string, tf.Variable>, k: number): void {
  for (const v of params.values())
    setVar(
      v,
      tf.tidy(() => v.mul(k)),
    );
}
