/**
 * UnsortedSegmentSum for wasm: the gradient of gather, i.e. of every embedding lookup.
 *
 *   out[s, …] = Σ_{i : ids[i] = s} x[i, …]     (ids outside [0, numSegments) are dropped, as in TF)
 *
 * This is a scatter-add: O(rows·rowLen) additions and no reuse, so it is bound by memory traffic, not
 * arithmetic — a matmul formulation (one-hot(ids)ᵀ·x) would do numSegments× more work. We run it as a
 * tight loop over the wasm heap (Float32Array/Int32Array views, no copies out of wasm memory).
 */
import type * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import { alloc, heapOffset, run, size, wasmOf, type TensorInfo } from './wasm-ops';

export function unsortedSegmentSumKernel(args: {
  inputs: { x: TensorInfo; segmentIds: TensorInfo };
  backend: unknown;
  attrs: { numSegments: number };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { x, segmentIds } = args.inputs;
  const { numSegments } = args.attrs;
  const idRank = segmentIds.shape.length;
  for (let i = 0; i < idRank; i++) {
    if (x.shape[i] !== segmentIds.shape[i]) {
      throw new PipelineError(
        'TENSOR_SHAPE',
        `unsortedSegmentSum: x [${x.shape.join(',')}] does not start with segmentIds' shape [${segmentIds.shape.join(',')}]`,
      );
    }
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') throw new PipelineError('TENSOR_SHAPE', `unsortedSegmentSum: unsupported dtype ${x.dtype}`);
  const rowShape = x.shape.slice(idRank);
  const rowLen = size(rowShape);
  const rows = size(segmentIds.shape);
  // Every allocation comes before the heap views: an allocation may grow (and move) the heap.
  const castIds = segmentIds.dtype === 'int32' ? undefined : run(w, 'Cast', { x: segmentIds }, { dtype: 'int32' });
  const out = alloc(w, [numSegments, ...rowShape], x.dtype);
  const buf = w.module.HEAPU8.buffer as ArrayBuffer;
  const Arr = x.dtype === 'float32' ? Float32Array : Int32Array;
  const o = new Arr(buf, heapOffset(w, out), numSegments * rowLen);
  o.fill(0);
  const xs = new Arr(buf, heapOffset(w, x), rows * rowLen);
  const ids = new Int32Array(buf, heapOffset(w, castIds ?? segmentIds), rows);
  for (let r = 0; r < rows; r++) {
    const s = ids[r] as number;
    if (s < 0 || s >= numSegments) continue;
    const src = r * rowLen;
    const dst = s * rowLen;
    for (let j = 0; j < rowLen; j++) o[dst + j] = (o[dst + j] as number) + (xs[src + j] as number);
  }
  if (castIds) w.backend.disposeData(castIds.dataId);
  return out;
}

export const unsortedSegmentSumConfig = (): tf.KernelConfig => ({
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSumKernel as unknown as tf.KernelFunc,
});
