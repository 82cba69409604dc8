/**
 * A residual update with an optional LayerScale γ [d] and an optional per-sample drop-path multiplier
 * s [B]: y = x + (a·γ)·s (timm Block: x + drop_path(ls(branch))). With our op library on the native
 * backend (native/robustok-ops/residual-branch.cc) that is one kernel forward and one backward, where
 * the separate ops take three and four full-size passes; elsewhere it is those ops. y and the gradient
 * of a are bit-identical either way; γ's gradient is summed in another order (float32 rounding).
 *
 * Registered as a tfjs kernel with a gradient per input (not tf.customGrad), so autodiff skips what it
 * does not need: the kernel computes da and dγ together, and dγ is dropped when γ is frozen.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeOpsBackend, registerOpKernel, type NativeOpsBackend } from '../../compute/native-ops';
import { scaleSamples } from './drop-path';

const BRANCH = 'RobustokResidualBranch';

let kernelOn = true;
/** Turns the one-kernel path off (false) or back on (A/B benches: bench/native-ops-ab.ts `residual-branch`). */
export function setResidualBranch(enabled: boolean): void {
  kernelOn = enabled;
}

function branchRun(be: NativeOpsBackend, i: Record<string, tf.Tensor>): tf.Tensor {
  return be.executeSingleOutput(BRANCH, [], [i.x!, i.a!, i.gamma!, i.scale!]);
}

/** Gradients of x + (a·γ)·s: both of a's and γ's from one kernel; the one autodiff does not ask for is freed by its tidy. */
function branchGrad(g: tf.Tensor, saved: tf.Tensor[]): Record<string, () => tf.Tensor> {
  const [x, a, gamma, scale] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const be = tf.backend() as unknown as NativeOpsBackend;
  const [da, dgamma] = be.executeMultipleOutputs(`${BRANCH}Grad`, [], [g, a, gamma, scale], 2) as [tf.Tensor, tf.Tensor];
  return {
    x: () => g.reshape(x.shape), // a new handle on dy: the residual passes it through
    a: () => da,
    gamma: () => dgamma,
    scale: () => tf.zerosLike(scale), // drop-path multipliers are constants
  };
}

/**
 * x, a: [B, ..., d]; gamma: [d] (LayerScale) or undefined; scale: the B drop-path multipliers
 * (drop-path.ts dropPathScale) or undefined. Returns x + (a·γ)·s, the factors that are absent left out.
 */
export function residualBranch(x: tf.Tensor, a: tf.Tensor, gamma: tf.Tensor | undefined, scale: Float32Array | undefined): tf.Tensor {
  return tf.tidy(() => {
    const B = a.shape[0];
    if ((gamma || scale) && kernelOn && a.rank >= 2 && nativeOpsBackend(a)) {
      registerOpKernel(BRANCH, branchRun, ['x', 'a', 'gamma', 'scale'], branchGrad);
      const d = a.shape[a.rank - 1] as number;
      const g = gamma ?? tf.ones([d]); // ×1 is exact: the same bits as leaving it out
      const s = tf.tensor1d(scale ?? new Float32Array(B).fill(1));
      return tf.engine().runKernel(BRANCH, { x, a, gamma: g, scale: s });
    }
    let b = gamma ? a.mul(gamma) : a;
    if (scale) b = scaleSamples(b, scale);
    return x.add(b);
  });
}
