/**
 * The small toolkit our wasm kernels are written with.
 *
 * A kernelFunc runs inside the engine, below the tape: calling `tf.*` ops from it would be recorded
 * and counted as user tensors. So our kernels call the wasm backend's own kernelFuncs directly
 * (captured from the registry before we override any of them) and free every intermediate with
 * `backend.disposeData`, exactly as the backend's built-in composite kernels do.
 *
 * Views: the backend stores each tensor as one malloc'd block of the wasm heap, registered in C++ by
 * id. A view registers a second id that points *inside* an existing block (zero copy), so a batched
 * matmul can run XNNPACK on each batch entry and write each result straight into one output block.
 * Views must be released with `releaseView`, never `disposeData` (that would `free` an interior pointer).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { PipelineError } from '../../core/errors';

export type TensorInfo = tf.TensorInfo;
type NamedAttrMap = tf.NamedAttrMap;

/** The parts of the Emscripten module we use (its own typings are not shipped with the package). */
interface WasmModule {
  HEAPF32: Float32Array;
  HEAP32: Int32Array;
  HEAPU8: Uint8Array;
  cwrap(name: string, ret: null | 'number', args: string[]): (...args: unknown[]) => unknown;
  tfjs: { disposeData(id: number): void; registerTensor(id: number, size: number, offset: number): void };
}

export interface Wasm {
  backend: BackendWasm;
  module: WasmModule;
}

export function wasmOf(backend: unknown): Wasm {
  const b = backend as BackendWasm;
  return { backend: b, module: b.wasm as unknown as WasmModule };
}

type KernelFuncLike = (args: { inputs: Record<string, TensorInfo | TensorInfo[]>; backend: unknown; attrs?: NamedAttrMap }) => TensorInfo | TensorInfo[];

/**
 * The backend's built-in kernels, captured once before any override is registered, so that our
 * replacement of (say) BatchMatMul can still call the original for the case it handles well.
 */
const builtins = new Map<string, tf.KernelConfig>();

export function captureBuiltin(name: string): tf.KernelConfig | undefined {
  if (!builtins.has(name)) {
    const k = tf.getKernel(name, 'wasm');
    if (k) builtins.set(name, k);
  }
  return builtins.get(name);
}

export function builtin(name: string): KernelFuncLike {
  const k = builtins.get(name) ?? captureBuiltin(name);
  if (!k) throw new PipelineError('BACKEND_UNAVAILABLE', `wasm backend has no built-in kernel ${name}`);
  return k.kernelFunc as unknown as KernelFuncLike;
}

export function run(w: Wasm, name: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap = {}): TensorInfo {
  const out = builtin(name)({ inputs, backend: w.backend, attrs });
  if (Array.isArray(out)) throw new PipelineError('INTERNAL', `kernel ${name} returned several outputs`);
  return out;
}

export function dispose(w: Wasm, ...infos: (TensorInfo | undefined)[]): void {
  for (const t of infos) if (t) w.backend.disposeData(t.dataId);
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reshape is free on wasm (same block, new shape, refcount + 1): the result must still be disposed. */
export function reshape(w: Wasm, x: TensorInfo, shape: number[]): TensorInfo {
  return run(w, 'Reshape', { x }, { shape });
}

export function heapOffset(w: Wasm, t: TensorInfo): number {
  const d = w.backend.dataIdMap.get(t.dataId);
  if (!d) throw new PipelineError('INTERNAL', 'tensor is not on the wasm backend');
  return d.memoryOffset;
}

export function cppId(w: Wasm, t: TensorInfo): number {
  const d = w.backend.dataIdMap.get(t.dataId);
  if (!d) throw new PipelineError('INTERNAL', 'tensor is not on the wasm backend');
  return d.id;
}

/** Float32 view of a tensor's heap block. Re-take it after any allocation: the heap may grow and move. */
export function f32(w: Wasm, t: TensorInfo): Float32Array {
  return new Float32Array(w.module.HEAPF32.buffer, heapOffset(w, t), size(t.shape));
}

export function i32(w: Wasm, t: TensorInfo): Int32Array {
  return new Int32Array(w.module.HEAP32.buffer, heapOffset(w, t), size(t.shape));
}

/** A zero-copy tensor aliasing `shape`-many float32 elements of `parent`, starting at element `elemOffset`. */
export function makeView(w: Wasm, parent: TensorInfo, elemOffset: number, shape: number[]): TensorInfo {
  const bytes = parent.dtype === 'float32' || parent.dtype === 'int32' ? 4 : 1;
  if (elemOffset + size(shape) > size(parent.shape)) {
    throw new PipelineError('INTERNAL', `view [${shape.join(',')}]@${elemOffset} exceeds parent [${parent.shape.join(',')}]`);
  }
  return w.backend.makeOutput(shape, parent.dtype, heapOffset(w, parent) + elemOffset * bytes);
}

/** Unregisters a view without freeing memory (the parent owns it). Runs C++ disposal callbacks (XNNPACK op caches). */
export function releaseView(w: Wasm, view: TensorInfo): void {
  const d = w.backend.dataIdMap.get(view.dataId);
  if (!d) return;
  w.module.tfjs.disposeData(d.id);
  w.backend.dataIdMap.delete(view.dataId);
}

/** Fresh uninitialised float32 output on the heap. */
export function alloc(w: Wasm, shape: number[], dtype: tf.DataType = 'float32'): TensorInfo {
  return w.backend.makeOutput(shape, dtype);
}

export function zeros(w: Wasm, shape: number[]): TensorInfo {
  const t = alloc(w, shape);
  f32(w, t).fill(0);
  return t;
}
