/**
 * Conv2DBackpropInput for wasm (the gradient of a conv's input), as a forward conv on XNNPACK.
 *
 * The built-in kernel exists but is a scalar loop: ~1.6 s for a 16×32×32×64 3×3 conv whose forward
 * takes ~0.1 s. The input gradient of a conv is itself a conv ("transposed conv"):
 *
 *   dx = conv_valid( pad(dilate(dy, stride), KH−1−pt, …), W' )   with W'[kh,kw,co,ci] = W[KH−1−kh, KW−1−kw, ci, co]
 *
 * dilate() puts stride−1 zeros between dy's pixels; the pads line the windows up with x's pixels.
 * For stride 1 this is exactly the forward conv's cost. For stride s it would multiply s² zeros (256×
 * for a 16×16 patch embedding), so strided convs take the other route: one GEMM for the patch-space
 * gradient, cols = dY·Wᵀ ([rows, CO] × [CO, KH·KW·CI]), then col2im adds each patch row back into
 * dx (a memory pass, the adjoint of im2col; no overlap at all when stride = kernel).
 */
import type * as tf from '@tensorflow/tfjs';
import { geometry, type ConvGeometry } from './conv2d-backprop-filter';
import { transposeWasm } from './transpose';
import { alloc, dispose, heapOffset, reshape, run, size, wasmOf, type TensorInfo, type Wasm } from './wasm-ops';

/** Pads (or, for negative amounts, crops) axis 1 and 2 of an NHWC tensor. */
function padOrCrop(w: Wasm, x: TensorInfo, top: number, bottom: number, left: number, right: number): TensorInfo {
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const cropT = Math.max(0, -top),
    cropB = Math.max(0, -bottom),
    cropL = Math.max(0, -left),
    cropR = Math.max(0, -right);
  let cur = x;
  let owned = false;
  if (cropT + cropB + cropL + cropR > 0) {
    cur = run(w, 'Slice', { x }, { begin: [0, cropT, cropL, 0], size: [n, h - cropT - cropB, wd - cropL - cropR, c] });
    owned = true;
  }
  const pt = Math.max(0, top),
    pb = Math.max(0, bottom),
    pl = Math.max(0, left),
    pr = Math.max(0, right);
  if (pt + pb + pl + pr === 0) return owned ? cur : reshape(w, cur, cur.shape);
  const out = run(
    w,
    'PadV2',
    { x: cur },
    {
      paddings: [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  if (owned) dispose(w, cur);
  return out;
}

/** Adds patch rows [rows, KH·KW·CI] back into NHWC dx (zeroed by the caller); the adjoint of im2colRows. */
export function col2imRows(heap: Float32Array, colsOff: number, dxOff: number, g: ConvGeometry): void {
  const dxBase = dxOff >> 2;
  const kwci = g.kw * g.ci;
  let src = colsOff >> 2;
  const rows = g.n * g.oh * g.ow;
  for (let r = 0; r < rows; r++) {
    const ow = r % g.ow;
    const t = (r - ow) / g.ow;
    const oh = t % g.oh;
    const n = (t - oh) / g.oh;
    const iw0 = ow * g.sw - g.pl;
    const kwLo = Math.max(0, -iw0);
    const kwHi = Math.min(g.kw, g.w - iw0);
    for (let kh = 0; kh < g.kh; kh++) {
      const ih = oh * g.sh + kh - g.pt;
      if (ih < 0 || ih >= g.h || kwHi <= kwLo) continue;
      const s0 = src + kh * kwci + kwLo * g.ci;
      const d0 = dxBase + ((n * g.h + ih) * g.w + iw0 + kwLo) * g.ci;
      const len = (kwHi - kwLo) * g.ci;
      for (let i = 0; i < len; i++) heap[d0 + i] = (heap[d0 + i] as number) + (heap[s0 + i] as number);
    }
    src += g.kh * kwci;
  }
}

/** Strided convs: dx = col2im(dY·Wᵀ). dy is NHWC [N,OH,OW,CO]; returns NHWC [N,H,W,CI]. */
function backpropInputGemm(w: Wasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const rows = g.n * g.oh * g.ow;
  const cols = g.kh * g.kw * g.ci;
  const w2 = reshape(w, filter, [cols, g.co]); // [KH·KW·CI, CO]
  const wT = transposeWasm(w, w2, [1, 0]); // [CO, KH·KW·CI]
  const dy2 = reshape(w, dy, [rows, g.co]); // [N·OH·OW, CO]
  const patches = run(w, 'BatchMatMul', { a: dy2, b: wT }, { transposeA: false, transposeB: false }); // [rows, cols]
  dispose(w, w2, wT, dy2);
  const dx = alloc(w, [g.n, g.h, g.w, g.ci]);
  const heap = w.module.HEAPF32; // taken after the last allocation
  heap.fill(0, heapOffset(w, dx) >> 2, (heapOffset(w, dx) >> 2) + size(dx.shape));
  col2imRows(heap, heapOffset(w, patches), heapOffset(w, dx), g);
  dispose(w, patches);
  return dx;
}

export function conv2dBackpropInputKernel(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: unknown;
  attrs: {
    strides: number | [number, number];
    pad: 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
    dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: number[];
  };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { filter } = args.inputs;
  const { strides, pad, dataFormat, dimRoundingMode } = args.attrs;
  const nchw = dataFormat === 'NCHW';
  const inputShape = nchw
    ? ([args.attrs.inputShape[0], args.attrs.inputShape[2], args.attrs.inputShape[3], args.attrs.inputShape[1]] as number[])
    : args.attrs.inputShape;
  const dy = nchw ? transposeWasm(w, args.inputs.dy, [0, 2, 3, 1]) : args.inputs.dy; // → NHWC
  const g = geometry(inputShape, filter.shape, strides, pad, dimRoundingMode);
  const tmp: TensorInfo[] = nchw ? [dy] : [];
  try {
    if (g.sh > 1 || g.sw > 1) {
      const dxS = backpropInputGemm(w, dy, filter, g);
      if (!nchw) return dxS;
      const outS = transposeWasm(w, dxS, [0, 3, 1, 2]); // NHWC → NCHW
      dispose(w, dxS);
      return outS;
    }
    // W' = spatially flipped filter with in/out channels swapped: [KH, KW, CO, CI].
    const flipped = run(w, 'Reverse', { x: filter }, { dims: [0, 1] });
    tmp.push(flipped);
    const wT = transposeWasm(w, flipped, [0, 1, 3, 2]);
    tmp.push(wT);
    // Zero-dilate dy by the stride: [N,OH,OW,CO] → [N, OH·sh, OW·sw, CO] (trailing zeros trimmed by the pad step).
    let d = dy;
    if (g.sh > 1 || g.sw > 1) {
      const d6 = reshape(w, dy, [g.n, g.oh, 1, g.ow, 1, g.co]);
      const z6 = run(
        w,
        'PadV2',
        { x: d6 },
        {
          paddings: [
            [0, 0],
            [0, 0],
            [0, g.sh - 1],
            [0, 0],
            [0, g.sw - 1],
            [0, 0],
          ],
          constantValue: 0,
        },
      );
      d = reshape(w, z6, [g.n, g.oh * g.sh, g.ow * g.sw, g.co]);
      tmp.push(d6, z6, d);
    }
    // Pad so that a valid KH×KW window at output row i covers dy rows that touch x row i:
    // total height H + KH − 1, of which KH − 1 − pt above.
    const top = g.kh - 1 - g.pt;
    const left = g.kw - 1 - g.pl;
    const bottom = g.h + g.kh - 1 - top - (d.shape[1] as number);
    const right = g.w + g.kw - 1 - left - (d.shape[2] as number);
    const dp = padOrCrop(w, d, top, bottom, left, right);
    tmp.push(dp);
    const dx = run(w, 'Conv2D', { x: dp, filter: wT }, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: 'floor' });
    if (!nchw) return dx;
    const out = transposeWasm(w, dx, [0, 3, 1, 2]); // NHWC → NCHW
    dispose(w, dx);
    return out;
  } finally {
    dispose(w, ...tmp);
  }
}

export const conv2dBackpropInputConfig = (): tf.KernelConfig => ({
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2dBackpropInputKernel as unknown as tf.KernelFunc,
});
