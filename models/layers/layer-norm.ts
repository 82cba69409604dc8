/**
 * LayerNorm over the last axis (PyTorch nn.LayerNorm with a 1-D normalized_shape): biased variance,
 * eps inside the square root. `affine: false` has no parameters (RAR's FinalLayer norm).
 */
import * as tf from '@tensorflow/tfjs';
import { Module } from './module';
import { PipelineError } from '../../core/errors';
import { nativeOpsBackend, type NativeOpsBackend } from '../../compute/native-ops';
import { biasAddGrad, fusedBackend, mklLayerNorm, rowMoments, rowNormGrad } from './native-fused';

export interface LayerNormOptions {
  dim: number;
  /** PyTorch's default is 1e-5; timm ViTs and RAR pass 1e-6. */
  eps?: number;
  /** Learnable weight (init 1) and bias (init 0). Default true. */
  affine?: boolean;
}

export class LayerNorm extends Module {
  readonly weight: tf.Variable | undefined;
  readonly bias: tf.Variable | undefined;
  readonly eps: number;
  readonly dim: number;

  constructor(o: LayerNormOptions) {
    super();
    this.dim = o.dim;
    this.eps = o.eps ?? 1e-5;
    if (o.affine !== false) {
      this.weight = this.param('weight', tf.ones([o.dim]));
      this.bias = this.param('bias', tf.zeros([o.dim]));
    }
  }

  /** x: [..., dim] → same shape. */
  forward(x: tf.Tensor): tf.Tensor {
    if (x.shape[x.rank - 1] !== this.dim) throw new PipelineError('TENSOR_SHAPE', `LayerNorm(${this.dim}): input last dim is ${x.shape[x.rank - 1]}`);
    if (!this.weight || !this.bias) return plainLayerNorm(this.eps)(x); // the fused kernels lose here: see fusedAffineLayerNorm
    if (nativeOpsBackend(x)) return opAffineLayerNorm(this.eps)(x, this.weight, this.bias);
    return x.rank >= 2 && fusedBackend(x, 'layerNorm')
      ? fusedAffineLayerNorm(this.eps)(x, this.weight, this.bias)
      : affineLayerNorm(this.eps)(x, this.weight, this.bias);
  }
}

/*
 * Hand-written gradients: autodiff through moments, rsqrt and the affine map takes about twice the
 * kernels and memory passes of the closed form, and LayerNorm runs twice per transformer block
 * (fwd+bwd measured 14.6 → 6.0 ms at [4096, 64], 51.5 → 30.0 ms at [4096, 256], one thread). The
 * forward is the same arithmetic as before (mean, centred square mean, rsqrt), so outputs are
 * bit-identical; gradients agree with autodiff to float32 rounding (test/unit/models/layers).
 * With x̂ = (x − μ)·r, r = 1/√(σ² + ε), g = dy·w:  dx = r·(g − mean(g) − x̂·mean(g·x̂)),
 * dw = Σ dy·x̂, db = Σ dy over every axis but the last.
 */

/** x̂ and r for the last axis. */
function normalise(x: tf.Tensor, eps: number): { xhat: tf.Tensor; rstd: tf.Tensor } {
  const xc = x.sub(x.mean(-1, true)); // [..., d]
  const rstd = tf.rsqrt(xc.square().mean(-1, true).add(eps)); // [..., 1]
  return { xhat: xc.mul(rstd), rstd };
}

function inputGrad(g: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor): tf.Tensor {
  return g
    .sub(g.mean(-1, true))
    .sub(xhat.mul(g.mul(xhat).mean(-1, true)))
    .mul(rstd);
}

/** tf.customGrad's parameter type: inputs and the save function arrive as one rest list. */
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

const affineCache = new Map<number, (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor>();
const plainCache = new Map<number, (x: tf.Tensor) => tf.Tensor>();

function affineLayerNorm(eps: number): (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  let f = affineCache.get(eps);
  if (f === undefined) {
    f = tf.customGrad<tf.Tensor>(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const { xhat, rstd } = normalise(x, eps);
      save([xhat, rstd, w]);
      return {
        value: xhat.mul(w).add(b),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xh, r, ww] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
          const d = ww.shape[0];
          const dyRows = dy.reshape([-1, d]); // [..., d] -> [N, d]
          const dw = dyRows.mul(xh.reshape([-1, d])).sum(0); // [N, d] -> [d]
          const db = dyRows.sum(0); // [N, d] -> [d]
          return [inputGrad(dy.mul(ww), xh, r), dw, db];
        },
      };
    }) as CustomGradientFunc);
    affineCache.set(eps, f);
  }
  return f;
}

function plainLayerNorm(eps: number): (x: tf.Tensor) => tf.Tensor {
  let f = plainCache.get(eps);
  if (f === undefined) {
    f = tf.customGrad<tf.Tensor>(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      const { xhat, rstd } = normalise(x, eps);
      save([xhat, rstd]);
      return {
        value: xhat,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xh, r] = saved as [tf.Tensor, tf.Tensor];
          return [inputGrad(dy, xh, r)];
        },
      };
    }) as CustomGradientFunc);
    plainCache.set(eps, f);
  }
  return f;
}

/*
 * Native backend (models/layers/native-fused.ts), affine LayerNorm: the forward is oneDNN's LayerNorm
 * kernel, one pass instead of the 9 kernels above (0.9–1.1 → 0.23 ms at the bench's shapes, one thread;
 * inference gains all of it). It keeps no statistics, so the backward recomputes them with the
 * batch-norm kernel on the NCHW view [1, N, d, 1] (x̂, row means and variances in one kernel) and gets dx
 * from its gradient kernel: dw = Σ dy·x̂, db = BiasAddGrad(dy), dx = BNGrad(dy·w). Only x is saved.
 * Fwd+bwd, CPU ms at one thread (scratch bench, 70 interleaved reps, load 2.5–3): [32, 64, 64]
 * 2.36 → 1.84, [32, 64, 128] 2.84 → 2.57, [16, 64, 256] 2.74 → 2.50, QK-norm [32, 4, 64, 32] 2.98 → 2.76.
 * Without the affine (RAR's final norm) the same kernels lose (fwd+bwd [32, 64, 128] 1.68 → 1.76 with the
 * batch-norm kernel forward, 2.04 with this one): the tfjs closed form is already short there.
 * oneDNN sums in another order: outputs and gradients equal the tfjs path to float32 rounding, not bit
 * for bit (test/unit/models/layers/layer-norm-native.test.ts).
 */

const fusedAffineCache = new Map<number, (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor>();

function fusedAffineLayerNorm(eps: number): (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  let f = fusedAffineCache.get(eps);
  if (f === undefined) {
    f = tf.customGrad<tf.Tensor>(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const be = fusedBackend(x)!;
      save([x, w]);
      return {
        value: mklLayerNorm(be, x, w, b, eps),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ww] = saved as [tf.Tensor, tf.Tensor];
          const stats = rowMoments(be, xs, eps);
          const dy4 = dy.reshape(stats.x4.shape); // [..., d] -> [1, N, d, 1]
          const dw = dy4.mul(stats.xhat4).sum([0, 1, 3]); // Σ over rows -> [d]
          const dx = rowNormGrad(be, dy4.mul(ww.reshape([-1, 1])), stats, eps); // w [d] -> [d, 1] to scale the d axis of [1, N, d, 1]
          return [dx.reshape(xs.shape), dw, biasAddGrad(be, dy)]; // [1, N, d, 1] -> [..., d]; db sums dy over all axes but the last
        },
      };
    }) as CustomGradientFunc);
    fusedAffineCache.set(eps, f);
  }
  return f;
}

/*
 * Our op library (compute/native-ops.ts, native/robustok-ops/layer-norm.cc), affine LayerNorm: one kernel
 * forward that also returns each row's mean and 1/σ, one kernel backward giving dx, dw and db from them.
 * Saved: x, the row statistics and w. Row sums accumulate in double, so outputs equal the tfjs path to
 * float32 rounding, not bit for bit (test/unit/models/layers/native-ops.test.ts).
 */
const opAffineCache = new Map<number, (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor>();

function opAffineLayerNorm(eps: number): (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor {
  let f = opAffineCache.get(eps);
  if (f === undefined) {
    f = tf.customGrad<tf.Tensor>(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const be = nativeOpsBackend(x) as NativeOpsBackend; // forward() checked it
      const epsAttr = { name: 'eps', type: be.binding.TF_ATTR_FLOAT, value: eps };
      const [y, mean, rstd] = be.executeMultipleOutputs('RobustokLayerNorm', [epsAttr], [x, w, b], 3) as [tf.Tensor, tf.Tensor, tf.Tensor]; // mean, rstd: [rows]
      save([x, w, mean, rstd]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => be.executeMultipleOutputs('RobustokLayerNormGrad', [], [dy, ...saved], 3),
      };
    }) as CustomGradientFunc);
    opAffineCache.set(eps, f);
  }
  return f;
}
