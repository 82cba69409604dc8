/**
 * BatchMatMul and _FusedMatMul for wasm that always reach XNNPACK.
 *
 * The built-in kernel sends a matmul to XNNPACK's GEMM (~15–20 GFLOP/s here) only when neither operand
 * is transposed and both have batch size 1; everything else — including both matmuls of every
 * gradient (dA = dY·Bᵀ, dB = Aᵀ·dY) and batched attention q·kᵀ — goes to a scalar loop at ~1–2 GFLOP/s.
 * We normalise every call into that fast form:
 *   - transposed operands are transposed explicitly first (O(n²) copies in front of O(n³) work);
 *   - a batch of A against one B is one tall GEMM ([batch·M, K] × [K, N]);
 *   - a batch against a batch runs one GEMM per entry on zero-copy views, each writing straight into
 *     its slice of a single output block (broadcast batch dims map entries by index arithmetic).
 */
import type * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import { transposeWasm } from './transpose';
import { alloc, cppId, dispose, makeView, releaseView, reshape, run, size, wasmOf, type TensorInfo, type Wasm } from './wasm-ops';

type CFunc = (...args: unknown[]) => unknown;
const cFuncs = new WeakMap<object, CFunc>();

/** The exported C entry point behind the BatchMatMul kernel, wrapped once per wasm module. */
function cBatchMatMul(w: Wasm): CFunc {
  let f = cFuncs.get(w.module);
  if (!f) {
    // a_id, a_shape, a_rank, b_id, b_shape, b_rank, transpose_a, transpose_b, out_id
    f = w.module.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
    cFuncs.set(w.module, f);
  }
  return f;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** out = a·b for plain rank-3 views with batch 1 ([1,M,K] × [1,K,N] → [1,M,N]), written in place. */
function gemmInto(w: Wasm, a: TensorInfo, b: TensorInfo, out: TensorInfo): void {
  cBatchMatMul(w)(cppId(w, a), shapeBytes(a.shape), 3, cppId(w, b), shapeBytes(b.shape), 3, 0, 0, cppId(w, out));
}

interface Plan {
  batchA: number;
  batchB: number;
  m: number;
  k: number;
  n: number;
  outBatchShape: number[];
  outShape: number[];
}

function broadcastShapes(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new PipelineError('TENSOR_SHAPE', `matMul batch dims [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

function plan(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): Plan {
  const ar = a.shape.length;
  const br = b.shape.length;
  const m = (transposeA ? a.shape[ar - 1] : a.shape[ar - 2]) as number;
  const k = (transposeA ? a.shape[ar - 2] : a.shape[ar - 1]) as number;
  const kb = (transposeB ? b.shape[br - 1] : b.shape[br - 2]) as number;
  const n = (transposeB ? b.shape[br - 2] : b.shape[br - 1]) as number;
  if (k !== kb) {
    throw new PipelineError(
      'TENSOR_SHAPE',
      `matMul inner dims differ: a [${a.shape.join(',')}] (transposeA=${transposeA}) and b [${b.shape.join(',')}] (transposeB=${transposeB})`,
    );
  }
  const outBatchShape = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  return {
    batchA: size(a.shape.slice(0, -2)),
    batchB: size(b.shape.slice(0, -2)),
    m,
    k,
    n,
    outBatchShape,
    outShape: [...outBatchShape, m, n],
  };
}

/** [batch, rows, cols] in plain (untransposed) layout; the caller disposes the result. */
function plain3d(w: Wasm, x: TensorInfo, batch: number, rows: number, cols: number, transposed: boolean): TensorInfo {
  if (!transposed) return reshape(w, x, [batch, rows, cols]);
  const xt = reshape(w, x, [batch, cols, rows]); // stored as [batch, cols, rows]
  const p = transposeWasm(w, xt, [0, 2, 1]); // → [batch, rows, cols]
  dispose(w, xt);
  return p;
}

/** Row-major batch index of `full` (an index into outBatchShape) into a broadcast operand's batch dims. */
function batchIndexMapper(outBatchShape: number[], operandBatchShape: number[]): (i: number) => number {
  const rank = outBatchShape.length;
  const dims = Array.from({ length: rank }, (_, j) => operandBatchShape[operandBatchShape.length - rank + j] ?? 1);
  if (size(dims) === size(outBatchShape)) return (i) => i;
  if (size(dims) === 1) return () => 0;
  return (i) => {
    let rem = i;
    let idx = 0;
    let stride = 1;
    for (let j = rank - 1; j >= 0; j--) {
      const od = outBatchShape[j] as number;
      const coord = rem % od;
      rem = Math.floor(rem / od);
      const d = dims[j] as number;
      idx += (d === 1 ? 0 : coord) * stride;
      stride *= d;
    }
    return idx;
  };
}

/** a·b for float32 tensors of any batch rank, via XNNPACK only. Result has shape p.outShape. */
export function matmulWasm(w: Wasm, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const p = plan(a, b, transposeA, transposeB);
  const outBatch = size(p.outBatchShape);
  if (p.m * p.n * outBatch === 0 || p.k === 0) {
    return run(w, 'BatchMatMul', { a, b }, { transposeA, transposeB });
  }
  const a3 = plain3d(w, a, p.batchA, p.m, p.k, transposeA); // [batchA, M, K]
  const b3 = plain3d(w, b, p.batchB, p.k, p.n, transposeB); // [batchB, K, N]
  try {
    if (p.batchB === 1) {
      // Every A entry meets the same B: one tall GEMM. [batchA·M, K] × [K, N] → [batchA·M, N].
      const a2 = reshape(w, a3, [1, p.batchA * p.m, p.k]);
      const o = run(w, 'BatchMatMul', { a: a2, b: b3 }, { transposeA: false, transposeB: false });
      dispose(w, a2);
      // With one B, the out batch dims are A's (outBatch = batchA).
      const out = reshape(w, o, p.outShape); // [batchA·M, N] → [..batch, M, N]
      dispose(w, o);
      return out;
    }
    const out = alloc(w, p.outShape);
    const aOf = batchIndexMapper(p.outBatchShape, a.shape.slice(0, -2));
    const bOf = batchIndexMapper(p.outBatchShape, b.shape.slice(0, -2));
    const mk = p.m * p.k;
    const kn = p.k * p.n;
    const mn = p.m * p.n;
    for (let i = 0; i < outBatch; i++) {
      const av = makeView(w, a3, aOf(i) * mk, [1, p.m, p.k]);
      const bv = makeView(w, b3, bOf(i) * kn, [1, p.k, p.n]);
      const ov = makeView(w, out, i * mn, [1, p.m, p.n]);
      try {
        gemmInto(w, av, bv, ov);
      } finally {
        releaseView(w, av);
        releaseView(w, bv); // also drops the XNNPACK operator cached on this id
        releaseView(w, ov);
      }
    }
    return out;
  } finally {
    dispose(w, a3, b3);
  }
}

export function batchMatMulKernel(args: {
  inputs: { a: TensorInfo; b: TensorInfo };
  backend: unknown;
  attrs: { transposeA: boolean; transposeB: boolean };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { a, b } = args.inputs;
  const { transposeA, transposeB } = args.attrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return run(w, 'BatchMatMul', { a, b }, args.attrs);
  return matmulWasm(w, a, b, transposeA, transposeB);
}

const ACTIVATION_KERNEL: Record<string, string | null> = {
  linear: null,
  relu: 'Relu',
  relu6: 'Relu6',
  elu: 'Elu',
  sigmoid: 'Sigmoid',
  leakyrelu: 'LeakyRelu',
  prelu: 'Prelu',
};

export function fusedMatMulKernel(args: {
  inputs: { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
  backend: unknown;
  attrs: { transposeA: boolean; transposeB: boolean; activation: string; leakyreluAlpha?: number };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const { transposeA, transposeB, activation } = args.attrs;
  const p = plan(a, b, transposeA, transposeB);
  const builtinOk = !transposeA && !transposeB && p.batchA === 1 && p.batchB === 1;
  if (builtinOk || a.dtype !== 'float32' || b.dtype !== 'float32') {
    return run(w, '_FusedMatMul', args.inputs, args.attrs);
  }
  const biasPerColumn = !bias || size(bias.shape) === p.n || size(bias.shape) === 1;
  if (p.batchB === 1 && biasPerColumn) {
    // Fold A's batch into rows and let the built-in fused kernel add bias + activation in one pass.
    const a3 = plain3d(w, a, p.batchA, p.m, p.k, transposeA);
    const b3 = plain3d(w, b, 1, p.k, p.n, transposeB);
    const a2 = reshape(w, a3, [1, p.batchA * p.m, p.k]); // [batchA·M, K]
    const inputs: Record<string, TensorInfo> = { a: a2, b: b3 };
    if (bias) inputs.bias = bias;
    if (preluActivationWeights) inputs.preluActivationWeights = preluActivationWeights;
    const o = run(w, '_FusedMatMul', inputs, { ...args.attrs, transposeA: false, transposeB: false });
    dispose(w, a3, b3, a2);
    const out = reshape(w, o, p.outShape); // [..batch, M, N]
    dispose(w, o);
    return out;
  }
  // General case: our matmul, then bias and activation as separate passes.
  let y = matmulWasm(w, a, b, transposeA, transposeB);
  if (bias) {
    const z = run(w, 'Add', { a: y, b: bias });
    dispose(w, y);
    y = z;
  }
  const act = ACTIVATION_KERNEL[activation];
  if (act === undefined) throw new PipelineError('INTERNAL', `fused matMul activation ${activation} is not supported on wasm`);
  if (act !== null) {
    const inputs: Record<string, TensorInfo> = act === 'Prelu' && preluActivationWeights ? { x: y, alpha: preluActivationWeights } : { x: y };
    const z = run(w, act, inputs, act === 'LeakyRelu' ? { alpha: args.attrs.leakyreluAlpha ?? 0.2 } : {});
    dispose(w, y);
    y = z;
  }
  return y;
}

export const batchMatMulConfig = (): tf.KernelConfig => ({
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMulKernel as unknown as tf.KernelFunc,
});

export const fusedMatMulConfig = (): tf.KernelConfig => ({
  kernelName: '_FusedMatMul',
  backendName: 'wasm',
  kernelFunc: fusedMatMulKernel as unknown as tf.KernelFunc,
});
