/**
 * TensorFlow's own fused CPU kernels, run eagerly through tfjs-node (issue 12): one kernel where the
 * portable tfjs ops take several, each writing a full-size tensor. The layers use them on the native
 * backend only and keep their tfjs ops as the path on cpu/wasm (and whenever these are unavailable).
 *
 * Which kernels, and why these (measured at the bench's shapes, one thread, test/unit/models/layers):
 * - `_MklLayerNorm` (oneDNN, forward only): y = LayerNorm(x)·w + b in one kernel for 2-D/3-D x.
 * - `_MklNativeFusedBatchNormV3` / `…GradV3` (oneDNN) on x viewed as NCHW [1, N, d, 1]: one channel per
 *   row, so "batch norm" is LayerNorm without the affine; the gradient op gives dx in one kernel. The
 *   plain `FusedBatchNormV3` takes the Eigen path for NCHW and is ~2× slower here.
 * - `_MklSoftmax`: TensorFlow's `Softmax` through oneDNN, ~30% faster at the attention's shapes.
 * - `BiasAddGrad`: a bias gradient in one kernel (tfjs autodiff of a broadcast add: Sum + 2 Reshapes).
 * - `SparseSoftmaxCrossEntropyWithLogits` (plain CPU kernel): per-row loss and its gradient softmax − onehot
 *   in one pass over the logits, where log-softmax · one-hot and its autodiff take ~12 full-size kernels.
 * `_Mkl*` kernels are registered with a `_kernel` label, which an eager op must name (found by trying;
 * `_MklLayerNorm` needs an explicit empty label, the others "MklNameChangeOp").
 *
 * Not reachable eagerly: `_FusedMatMul`/`_MklNativeFusedMatMul` (matmul + bias + GELU) need the
 * list(string) attribute `fused_ops`, which tfjs-node's binding cannot set (AssignOpAttr handles string
 * scalars only); TensorFlow has no standalone Gelu op in 2.16.
 *
 * Availability is probed once per process with tiny inputs (a TensorFlow build without oneDNN, or the
 * GPU build placing tensors on a GPU, fails the probe and every caller keeps its tfjs path).
 * ROBUSTOK_NATIVE_FUSED=off, or setNativeFused(false), turns them off (A/B benches, bisecting numerics);
 * a list (layerNorm,bias,softmax,gelu) keeps only those.
 */
import * as tf from '@tensorflow/tfjs';

/** An attribute as tfjs-node's binding takes it. */
interface OpAttr {
  name: string;
  type: number;
  value: string | number | boolean | number[];
}

/** The parts of tfjs-node's NodeJSKernelBackend used here. */
interface NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_FLOAT: number; TF_ATTR_STRING: number; TF_ATTR_BOOL: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: OpAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: OpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

/** The layers' native paths, each switchable on its own (A/B benches). */
export type FusedFeature = 'layerNorm' | 'bias' | 'softmax' | 'gelu' | 'crossEntropy';
const FEATURES: readonly FusedFeature[] = ['layerNorm', 'bias', 'softmax', 'gelu', 'crossEntropy'];

let override: boolean | readonly FusedFeature[] | undefined;
/** Probe result per backend instance (a test may switch backends and back). */
const probed = new WeakMap<object, boolean>();

/**
 * Forces the native paths on (where available), off, or only the listed ones; undefined restores the
 * default: ROBUSTOK_NATIVE_FUSED = on (default) | off | a comma-separated list of features.
 */
export function setNativeFused(enabled: boolean | readonly FusedFeature[] | undefined): void {
  override = enabled;
}

function featureOn(feature: FusedFeature | undefined): boolean {
  let setting = override;
  if (setting === undefined) {
    const env = (process.env.ROBUSTOK_NATIVE_FUSED ?? 'on').trim();
    setting =
      env === 'on' || env === '' ? true : env === 'off' ? false : (env.split(',').map((f) => f.trim()) as FusedFeature[]).filter((f) => FEATURES.includes(f));
  }
  return typeof setting === 'boolean' ? setting : feature === undefined || setting.includes(feature);
}

/** tfjs-node's backend when the fused kernels can be used for this float32 tensor (and `feature` is on), else undefined. */
export function fusedBackend(x: tf.Tensor, feature?: FusedFeature): NodeBackend | undefined {
  if (x.dtype !== 'float32' || tf.getBackend() !== 'tensorflow') return undefined;
  if (!featureOn(feature)) return undefined;
  const be = tf.backend() as unknown as NodeBackend;
  let ok = probed.get(be);
  if (ok === undefined) {
    ok = probe(be);
    probed.set(be, ok);
  }
  return ok ? be : undefined;
}

function probe(be: NodeBackend): boolean {
  if (typeof be.executeMultipleOutputs !== 'function' || be.binding === undefined) return false;
  try {
    tf.tidy(() => {
      const x = tf.tensor2d([1, 2, 4, 8, -1, 0], [2, 3]);
      const w = tf.ones([3]);
      const b = tf.zeros([3]);
      const y = mklLayerNorm(be, x, w, b, 1e-5);
      const stats = rowMoments(be, x, 1e-5);
      const dx = rowNormGrad(be, stats.x4, stats, 1e-5).reshape([2, 3]);
      const p = mklSoftmax(be, x);
      const db = biasAddGrad(be, x);
      // right values, not just no error: LayerNorm rows have zero mean, softmax rows sum to one
      const checks = tf.stack([
        y.sum(-1).abs().max(),
        stats.xhat4.reshape([2, 3]).sub(y).abs().max(),
        p.sum(-1).sub(1).abs().max(),
        db.sub(x.sum(0)).abs().max(),
        dx.sum(-1).abs().max(),
      ]);
      const worst = Math.max(...(checks.dataSync() as Float32Array));
      if (!(worst < 1e-4)) throw new Error(`fused kernels probe: deviation ${worst}`);
    });
    return true;
  } catch {
    return false;
  }
}

function typeAttr(be: NodeBackend, name: string): OpAttr {
  return { name, type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_FLOAT };
}
function floatAttr(be: NodeBackend, name: string, value: number): OpAttr {
  return { name, type: be.binding.TF_ATTR_FLOAT, value };
}
function stringAttr(be: NodeBackend, name: string, value: string): OpAttr {
  return { name, type: be.binding.TF_ATTR_STRING, value };
}
function boolAttr(be: NodeBackend, name: string, value: boolean): OpAttr {
  return { name, type: be.binding.TF_ATTR_BOOL, value };
}

/** LayerNorm over the last axis with weight w and bias b [d]; x of any rank ≥ 2 (the kernel takes 2-D/3-D). */
export function mklLayerNorm(be: NodeBackend, x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const d = x.shape[x.rank - 1] as number;
  const x3 = x.rank === 2 || x.rank === 3 ? x : x.reshape([-1, x.shape[x.rank - 2] as number, d]); // [..., T, d] -> [M, T, d]
  const y = be.executeSingleOutput('_MklLayerNorm', [typeAttr(be, 'T'), floatAttr(be, 'epsilon', eps), stringAttr(be, '_kernel', '')], [x3, w, b]);
  return x3 === x ? y : y.reshape(x.shape); // [M, T, d] -> [..., T, d]
}

function batchNormAttrs(be: NodeBackend, eps: number): OpAttr[] {
  return [
    typeAttr(be, 'T'),
    typeAttr(be, 'U'),
    floatAttr(be, 'epsilon', eps),
    stringAttr(be, 'data_format', 'NCHW'),
    boolAttr(be, 'is_training', true),
    stringAttr(be, '_kernel', 'MklNameChangeOp'),
  ];
}

/** What the batch-norm kernel left for its gradient, all in the NCHW view [1, N, d, 1] of x [..., d]. */
export interface RowStats {
  /** x viewed as [1, N, d, 1]. */
  x4: tf.Tensor;
  /** (x − mean)/√(variance + ε), [1, N, d, 1]. */
  xhat4: tf.Tensor;
  /** Row means and biased variances [N], and the kernel's reserve tensor. */
  mean: tf.Tensor;
  variance: tf.Tensor;
  reserve: tf.Tensor;
  /** The unit scale [N] both kernels take. */
  ones: tf.Tensor;
}

/** Per-row moments of x [..., d] through the batch-norm kernel on the NCHW view [1, N, d, 1] (one channel per row). */
export function rowMoments(be: NodeBackend, x: tf.Tensor, eps: number): RowStats {
  const d = x.shape[x.rank - 1] as number;
  const n = x.size / d;
  const x4 = x.reshape([1, n, d, 1]); // [..., d] -> NCHW [1, N, d, 1]
  const ones = tf.ones([n]);
  const none = tf.zeros([0]); // running mean and variance: not read when training with exponential_avg_factor 1
  const attrs = [...batchNormAttrs(be, eps), floatAttr(be, 'exponential_avg_factor', 1)];
  const [xhat4, , , mean, variance, reserve] = be.executeMultipleOutputs('_MklNativeFusedBatchNormV3', attrs, [x4, ones, tf.zeros([n]), none, none], 6) as [
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
    tf.Tensor,
  ];
  return { x4, xhat4, mean, variance, reserve, ones };
}

/** d(LayerNorm without affine)/dx for the upstream gradient g4 [1, N, d, 1], from rowMoments' stats → [1, N, d, 1]. */
export function rowNormGrad(be: NodeBackend, g4: tf.Tensor, s: RowStats, eps: number): tf.Tensor {
  const [dx4] = be.executeMultipleOutputs('_MklNativeFusedBatchNormGradV3', batchNormAttrs(be, eps), [g4, s.x4, s.ones, s.mean, s.variance, s.reserve], 5) as [
    tf.Tensor,
  ];
  return dx4;
}

/** Softmax over the last axis. */
export function mklSoftmax(be: NodeBackend, x: tf.Tensor): tf.Tensor {
  return be.executeSingleOutput('_MklSoftmax', [typeAttr(be, 'T'), stringAttr(be, '_kernel', 'MklNameChangeOp')], [x]);
}

/** Σ over every axis but the last: [..., d] → [d]. */
export function biasAddGrad(be: NodeBackend, dy: tf.Tensor): tf.Tensor {
  return be.executeSingleOutput('BiasAddGrad', [typeAttr(be, 'T'), stringAttr(be, 'data_format', 'NHWC')], [dy]);
}

/** x + b for b [d] over the last axis of x [..., d]. */
export function biasAdd(be: NodeBackend, x: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return be.executeSingleOutput('BiasAdd', [typeAttr(be, 'T'), stringAttr(be, 'data_format', 'NHWC')], [x, b]);
}

/**
 * Cross-entropy of logits [N, K] against int32 labels [N] in one kernel: the per-row losses [N] and
 * their gradient w.r.t. the logits, softmax − onehot [N, K]. Labels outside [0, K) are an error.
 */
export function sparseSoftmaxCrossEntropy(be: NodeBackend, logits: tf.Tensor, labels: tf.Tensor): { loss: tf.Tensor; backprop: tf.Tensor } {
  const attrs = [typeAttr(be, 'T'), { name: 'Tlabels', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_INT32 }];
  const [loss, backprop] = be.executeMultipleOutputs('SparseSoftmaxCrossEntropyWithLogits', attrs, [logits, labels], 2) as [tf.Tensor, tf.Tensor];
  return { loss, backprop };
}
