/**
 * Linear (PyTorch nn.Linear): y = x Wᵀ + b over the last axis. `weight` is kept in the PyTorch layout
 * [out, in] so checkpoints load without transposes; the matmul transposes on the fly (free in tfjs).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { initTensor, TRUNC_NORMAL_002, type Init } from './init';
import { Module } from './module';
import { PipelineError } from '../../core/errors';
import { biasAdd, biasAddGrad, fusedBackend } from './native-fused';
import { nativeOpsBackend, registerOpKernel, type NativeOpsBackend } from '../../compute/native-ops';

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  /** Default true, as in PyTorch. */
  bias?: boolean;
  /** Default trunc-normal(0.02): the init RAR and timm ViTs apply to every Linear. */
  weightInit?: Init;
  biasInit?: Init;
  rng: Rng;
}

export class Linear extends Module {
  readonly weight: tf.Variable; // [out, in]
  readonly bias: tf.Variable | undefined; // [out]
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(o: LinearOptions) {
    super();
    this.inFeatures = o.inFeatures;
    this.outFeatures = o.outFeatures;
    this.weight = this.param('weight', initTensor([o.outFeatures, o.inFeatures], o.weightInit ?? TRUNC_NORMAL_002, o.rng));
    this.bias = o.bias === false ? undefined : this.param('bias', initTensor([o.outFeatures], o.biasInit ?? { kind: 'zeros' }, o.rng));
  }

  /** x: [..., in] → [..., out]. */
  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** The functional form, also used by layers that compute their weight (spectral norm). w: [out, in]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const [outF, inF] = w.shape as [number, number];
  const last = x.shape[x.rank - 1];
  if (last !== inF) throw new PipelineError('TENSOR_SHAPE', `linear: input last dim ${last} does not match weight [${outF}, ${inF}]`);
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const x2 = x.rank === 2 ? x : x.reshape([-1, inF]); // [..., in] -> [N, in] (each Reshape is a kernel call on tfjs-node)
    let y: tf.Tensor; // [N, out]
    if (b && matMulBiasOn && nativeOpsBackend(x2)) y = matMulBias(x2, w, b);
    else {
      y = tf.matMul(x2, w, false, true); // [N, in] x [out, in]ᵀ -> [N, out]
      if (b) y = fusedBackend(y, 'bias') ? nativeBiasAdd(y, b) : y.add(b);
    }
    return x.rank === 2 ? y : y.reshape([...lead, outF]); // [N, out] -> [..., out]
  });
}

/**
 * x wᵀ + b in one kernel with our op library (native/robustok-ops/matmul-bias.cc: TensorFlow's
 * `_FusedMatMul` with the bias fused, which tfjs-node cannot call itself). Registered as a tfjs kernel
 * with a gradient per input rather than wrapped in tf.customGrad, so autodiff only computes the gradients
 * it needs (a customGrad computes all three, e.g. dx of a patch embedding's input images). The gradients
 * are the ops autodiff of matMul(x, w, false, true) and of BiasAdd run. The product rounds as
 * BatchMatMulV2 does at most shapes but not all (single rows, K ≥ 1024: float32 rounding), hence the
 * stage versions that moved with it. Linear forward at one thread (tmp A/B of the two kernels, 40
 * interleaved reps, load ~1): [4128, 64] → 192 1.30 → 0.83 ms, [2064, 256] → 1024 9.14 → 7.60 ms.
 */
const MATMUL_BIAS = 'RobustokMatMulBias';

let matMulBiasOn = true;
/** Turns the one-kernel path off (false) or back on (A/B benches: bench/native-ops-ab.ts `matmul-bias`). */
export function setMatMulBias(enabled: boolean): void {
  matMulBiasOn = enabled;
}

function matMulBiasRun(be: NativeOpsBackend, i: Record<string, tf.Tensor>): tf.Tensor {
  return be.executeSingleOutput(MATMUL_BIAS, [{ name: 'num_args', type: be.binding.TF_ATTR_INT, value: 1 }], [i.x!, i.w!, i.b!]);
}

/** The ops autodiff of matMul(x, w, false, true) and BiasAdd would run, per input. g: [N, out]. */
function matMulBiasGrad(g: tf.Tensor, saved: tf.Tensor[]): Record<string, () => tf.Tensor> {
  const [xs, ws] = saved as [tf.Tensor, tf.Tensor];
  return {
    x: () => tf.matMul(g, ws), // [N, out] x [out, in] -> [N, in]
    w: () => tf.matMul(g, xs, true, false), // [N, out]ᵀ x [N, in] -> [out, in]
    b: () => biasAddGrad(tf.backend() as unknown as Parameters<typeof biasAddGrad>[0], g), // -> [out]
  };
}

/** x [N, in], w [out, in], b [out] → [N, out], on the native backend with our op library loaded. */
function matMulBias(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor): tf.Tensor {
  registerOpKernel(MATMUL_BIAS, matMulBiasRun, ['x', 'w'], matMulBiasGrad);
  return tf.engine().runKernel(MATMUL_BIAS, { x, w, b });
}

/**
 * y + b on the native backend: TensorFlow's BiasAdd (the same float adds as the broadcast Add: forward
 * bit-identical) with BiasAddGrad for the bias gradient, one kernel where tfjs's autodiff of a broadcast
 * add runs Sum and two Reshapes. Linear fwd+bwd at [2048, 64] → 192, CPU ms at one thread (scratch
 * bench, 50 interleaved reps, load ~6): 2.27 → 1.99; [1024, 256] → 1024: 13.3 → 12.6.
 */
const nativeBiasAdd: (y: tf.Tensor, b: tf.Tensor) => tf.Tensor = tf.customGrad<tf.Tensor>(((y: tf.Tensor, b: tf.Tensor) => {
  const be = fusedBackend(y)!;
  return { value: biasAdd(be, y, b), gradFunc: (dy: tf.Tensor) => [dy, biasAddGrad(be, dy)] };
}) as Parameters<typeof tf.customGrad>[0]);
