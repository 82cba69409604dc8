/**
 * Activations the reference models use. Exact GELU (erf) is PyTorch's nn.GELU() default (timm Mlp, RAR);
 * the tanh approximation is nn.GELU(approximate='tanh') (DINO-S discriminator backbone). They differ by
 * up to ~1e-3, enough to matter when comparing against upstream outputs, so both exist.
 */
import * as tf from '@tensorflow/tfjs';
import { nativeOpsBackend, type NativeOpsBackend } from '../../compute/native-ops';
import { fusedBackend } from './native-fused';

export type ActivationName = 'gelu' | 'gelu_tanh' | 'silu' | 'relu';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const LN_INV_SQRT_2PI = Math.log(INV_SQRT_2PI);

/**
 * 0.5·x·(1 + erf(x/√2)) = x·Φ(x), with its derivative written out, Φ(x) + x·φ(x), instead of autodiff
 * through erf: fewer kernels on the MLP's widest tensor (fwd+bwd 128 → 115 ms at [4096, 1024], one
 * thread). The forward keeps Φ = ½(1 + erf) for the backward, which then takes 7 elementwise passes
 * instead of 8 (fwd+bwd with a loss's multiply and sum at [4096, 1024], one thread, medians of 15
 * interleaved, load 4.5: 172 → 150 ms). x·(t·½) equals the former (x·t)·½ bit for bit: halving is exact
 * in float32 (Φ ≥ 3e-8 when non-zero, far from the subnormal range).
 */
const geluExact: (x: tf.Tensor) => tf.Tensor = tf.customGrad<tf.Tensor>(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const cdf = tf.erf(x.mul(SQRT1_2)).add(1).mul(0.5); // Φ(x)
  save([x, cdf]);
  return {
    value: x.mul(cdf),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, phi] = saved as [tf.Tensor, tf.Tensor];
      const xPdf = xs.mul(tf.exp(xs.square().mul(-0.5))).mul(INV_SQRT_2PI); // x·φ(x)
      return [dy.mul(phi.add(xPdf))];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]);

/**
 * The same forward (bit-identical) also keeping u = x/√2, so the backward builds φ(x) = exp(ln(1/√(2π)) − u²)
 * in 3 kernels instead of 4 (Square, Sub, Exp; the constant rides inside the exponent): 6 elementwise
 * kernels instead of 7, at the price of holding u until the backward. Fwd+bwd CPU ms at one thread
 * (scratch bench, 42 interleaved reps, load ~5): [2048, 256] 3.96 → 3.91, [2048, 512] 7.91 → 7.08,
 * [1024, 1024] 8.07 → 7.36. Native backend only (gelu() below), so cpu/wasm keep the tested path; the
 * gradient differs from geluExact's by float32 rounding (4.8e-7 at |x| ≤ 8).
 */
const geluExactNative: (x: tf.Tensor) => tf.Tensor = tf.customGrad<tf.Tensor>(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const u = x.mul(SQRT1_2);
  const cdf = tf.erf(u).add(1).mul(0.5); // Φ(x)
  save([x, u, cdf]);
  return {
    value: x.mul(cdf),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, us, phi] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
      const pdf = tf.exp(tf.sub(LN_INV_SQRT_2PI, us.square())); // φ(x)
      return [dy.mul(phi.add(xs.mul(pdf)))];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]);

/**
 * One kernel each way from our op library (compute/native-ops.ts): RobustokGelu forward, RobustokGeluGrad
 * backward recomputing Φ and φ from x, so only x is saved. Same formula; the forward rounds as geluExact
 * (same association, no contraction), the gradient within float32 rounding of it (test/unit/models/layers/
 * native-ops.test.ts). At [32, 129, 256], one thread: fwd ~0.7 ms and bwd ~1.5 ms against ~3 and ~5.
 */
const geluOp: (x: tf.Tensor) => tf.Tensor = tf.customGrad<tf.Tensor>(((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const be = nativeOpsBackend(x) as NativeOpsBackend; // gelu() checked it
  save([x]);
  return {
    value: be.executeSingleOutput('RobustokGelu', [], [x]),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [be.executeSingleOutput('RobustokGeluGrad', [], [dy, saved[0] as tf.Tensor])],
  };
}) as Parameters<typeof tf.customGrad>[0]);

export function gelu(x: tf.Tensor): tf.Tensor {
  if (nativeOpsBackend(x)) return geluOp(x);
  return fusedBackend(x, 'gelu') ? geluExactNative(x) : geluExact(x);
}

/** 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = x.add(x.pow(3).mul(0.044715)).mul(SQRT_2_OVER_PI);
    return x.mul(tf.tanh(inner).add(1)).mul(0.5);
  });
}

/** x·sigmoid(x) (nn.SiLU, the adaLN input activation). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => x.mul(tf.sigmoid(x)));
}

export function activation(name: ActivationName, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu(x);
    case 'gelu_tanh':
      return geluTanh(x);
    case 'silu':
      return silu(x);
    case 'relu':
      return tf.relu(x);
  }
}
