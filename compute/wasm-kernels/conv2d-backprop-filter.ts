/**
 * Conv2DBackpropFilter for wasm (the gradient of every conv's weights), as im2col + one XNNPACK GEMM.
 *
 *   dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·sh+kh−pt, ow·sw+kw−pl, ci] · dy[n,oh,ow,co]
 *
 * With P the patch matrix ([rows = N·OH·OW, KH·KW·CI], one input patch per output pixel) this is
 * dW = Pᵀ·dY: [KH·KW·CI, rows] × [rows, CO], already in the filter's layout. XNNPACK's fast GEMM wants
 * plain operands, and it packs the right one: so we transpose P explicitly (a copy, cheap next to the
 * GEMM) and keep dY — usually the smaller operand — as the packed one (measured: packing P instead
 * made the GEMM ~2× slower). Rows are processed in chunks so P never exceeds ~16 MB, and the chunks'
 * partial products are summed.
 *
 * Filling P is memory copying, not arithmetic: for each output pixel and filter row kh, the KW·CI
 * inputs it needs are contiguous in NHWC x (dilation is 1 in all tfjs conv gradients), so each is one
 * `copyWithin` on the heap, with zeros where the window hangs over the padding.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import { transposeWasm } from './transpose';
import { alloc, dispose, heapOffset, makeView, releaseView, reshape, run, size, wasmOf, type TensorInfo, type Wasm } from './wasm-ops';

/** P chunk budget in floats (16 MB): big enough for GEMM efficiency, small enough for any heap. */
const CHUNK_FLOATS = 4 * 1024 * 1024;

export interface ConvGeometry {
  n: number;
  h: number;
  w: number;
  ci: number;
  kh: number;
  kw: number;
  co: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
}

/**
 * Writes rows [r0, r1) of the patch matrix of NHWC `xOff` (heap byte offset) into `pOff`.
 * Row r = (n·OH + oh)·OW + ow; column = (kh·KW + kw)·CI + ci.
 */
export function im2colRows(heap: Float32Array, xOff: number, pOff: number, g: ConvGeometry, r0: number, r1: number): void {
  const xBase = xOff >> 2;
  const kwci = g.kw * g.ci;
  const rowLen = g.kh * kwci;
  let dst = pOff >> 2;
  for (let r = r0; r < r1; r++) {
    const ow = r % g.ow;
    const t = (r - ow) / g.ow;
    const oh = t % g.oh;
    const n = (t - oh) / g.oh;
    const iw0 = ow * g.sw - g.pl; // input column of kw = 0
    // In-bounds kw range [kwLo, kwHi): contiguous in x's memory for any fixed input row.
    const kwLo = Math.max(0, -iw0);
    const kwHi = Math.min(g.kw, g.w - iw0);
    for (let kh = 0; kh < g.kh; kh++) {
      const ih = oh * g.sh + kh - g.pt;
      const seg = dst + kh * kwci;
      if (ih < 0 || ih >= g.h || kwHi <= kwLo) {
        heap.fill(0, seg, seg + kwci);
        continue;
      }
      if (kwLo > 0) heap.fill(0, seg, seg + kwLo * g.ci);
      const src = xBase + ((n * g.h + ih) * g.w + iw0 + kwLo) * g.ci;
      const len = (kwHi - kwLo) * g.ci;
      if (len <= 8) {
        // Tiny runs (e.g. RGB input, 1×1 windows): a loop beats the call overhead of copyWithin.
        for (let i = 0; i < len; i++) heap[seg + kwLo * g.ci + i] = heap[src + i] as number;
      } else {
        heap.copyWithin(seg + kwLo * g.ci, src, src + len);
      }
      if (kwHi < g.kw) heap.fill(0, seg + kwHi * g.ci, seg + kwci);
    }
    dst += rowLen;
  }
}

export function geometry(
  xShape: number[],
  filterShape: number[],
  strides: number | [number, number],
  pad: tf.backend_util.PadInfo | 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides,
    1,
    pad as 'same',
    dimRoundingMode,
    false,
    'channelsLast',
  );
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    ci: info.inChannels,
    kh: info.filterHeight,
    kw: info.filterWidth,
    co: info.outChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    pt: info.padInfo.top,
    pl: info.padInfo.left,
  };
}

/** dW for NHWC x [N,H,W,CI] and dy [N,OH,OW,CO]; returns [KH,KW,CI,CO]. */
export function conv2dBackpropFilterNhwc(w: Wasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  const rows = g.n * g.oh * g.ow;
  const cols = g.kh * g.kw * g.ci;
  if (dy.shape[0] !== g.n || dy.shape[1] !== g.oh || dy.shape[2] !== g.ow || dy.shape[3] !== g.co) {
    throw new PipelineError('TENSOR_SHAPE', `conv2d backprop filter: dy [${dy.shape.join(',')}] does not match the output [${g.n},${g.oh},${g.ow},${g.co}]`);
  }
  const chunk = Math.max(1, Math.min(rows, Math.floor(CHUNK_FLOATS / cols)));
  let acc: TensorInfo | undefined; // [1, cols, CO]
  const p = alloc(w, [1, chunk, cols]); // reused for every chunk
  try {
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const rc = Math.min(chunk, rows - r0);
      // Re-read heap offsets each chunk: allocations may grow (and move) the heap.
      im2colRows(w.module.HEAPF32, heapOffset(w, x), heapOffset(w, p), g, r0, r0 + rc);
      const pView = makeView(w, p, 0, [1, rc, cols]); // [1, rc, KH·KW·CI]
      const dyRows = makeView(w, dy, r0 * g.co, [1, rc, g.co]); // rows r0.. of dy as [1, rc, CO]
      let part: TensorInfo;
      try {
        const pT = transposeWasm(w, pView, [0, 2, 1]); // [1, KH·KW·CI, rc]
        part = run(w, 'BatchMatMul', { a: pT, b: dyRows }, { transposeA: false, transposeB: false }); // [1, cols, CO]
        dispose(w, pT);
      } finally {
        releaseView(w, pView);
        releaseView(w, dyRows); // drops the XNNPACK operator cached on this id
      }
      if (acc) {
        const sum = run(w, 'Add', { a: acc, b: part });
        dispose(w, acc, part);
        acc = sum;
      } else {
        acc = part;
      }
    }
  } finally {
    dispose(w, p);
  }
  if (!acc) throw new PipelineError('INTERNAL', 'conv2d backprop filter ran no chunk');
  const dw = reshape(w, acc, [g.kh, g.kw, g.ci, g.co]); // [KH·KW·CI, CO] → [KH, KW, CI, CO]
  dispose(w, acc);
  return dw;
}

export function conv2dBackpropFilterKernel(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: unknown;
  attrs: {
    strides: number | [number, number];
    pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: number[];
  };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs;
  let { x, dy } = args.inputs;
  const owned: TensorInfo[] = [];
  try {
    if (dataFormat === 'NCHW') {
      x = transposeWasm(w, x, [0, 2, 3, 1]); // [N,C,H,W] → [N,H,W,C]
      dy = transposeWasm(w, dy, [0, 2, 3, 1]);
      owned.push(x, dy);
    }
    if (size(x.shape) === 0 || size(dy.shape) === 0) {
      const z = alloc(w, filterShape);
      new Float32Array(w.module.HEAPF32.buffer, heapOffset(w, z), size(filterShape)).fill(0);
      return z;
    }
    const g = geometry(x.shape, filterShape, strides, pad, dimRoundingMode);
    return conv2dBackpropFilterNhwc(w, x, dy, g);
  } finally {
    dispose(w, ...owned);
  }
}

export const conv2dBackpropFilterConfig = (): tf.KernelConfig => ({
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilterKernel as unknown as tf.KernelFunc,
});
