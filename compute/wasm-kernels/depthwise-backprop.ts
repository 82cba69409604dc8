/**
 * Depthwise conv gradients for wasm (the backend has the forward kernel only).
 *
 * A depthwise conv has no channel mixing, so there is no GEMM to hand the work to: per filter tap
 * (kh, kw) each gradient is an element-wise product and a reduction over the tensor. We run those per
 * tap with the backend's C kernels (PadV2, StridedSlice, Multiply, Sum, Add), so the work stays in
 * wasm; the cost is KH·KW passes over memory, which is what the arithmetic needs anyway.
 *
 * Layout: x [N,H,W,C], filter [KH,KW,C,M] (M = channel multiplier), dy [N,OH,OW,C·M] with output
 * channel c·M + m. Dilations are 1 (tfjs asserts it in the gradient).
 */
import type * as tf from '@tensorflow/tfjs';
import { geometry, type ConvGeometry } from './conv2d-backprop-filter';
import { alloc, dispose, heapOffset, reshape, run, wasmOf, type TensorInfo, type Wasm } from './wasm-ops';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface DepthwiseAttrs {
  strides: number | [number, number];
  pad: Pad;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Geometry of the depthwise conv; `co` is C·M as in the forward op's output. */
function depthwiseGeometry(xShape: number[], filterShape: number[], attrs: DepthwiseAttrs): ConvGeometry & { m: number } {
  const [kh, kw, c, m] = filterShape as [number, number, number, number];
  const g = geometry(xShape, [kh, kw, c, c * m], attrs.strides, attrs.pad, attrs.dimRoundingMode);
  return { ...g, m };
}

/** x padded so every tap's strided window [kh + (OH−1)·sh] fits: [N, Hp, Wp, C]. */
function padForTaps(w: Wasm, x: TensorInfo, g: ConvGeometry): { xp: TensorInfo; hp: number; wp: number } {
  const hp = Math.max(g.pt + g.h, (g.oh - 1) * g.sh + g.kh);
  const wp = Math.max(g.pl + g.w, (g.ow - 1) * g.sw + g.kw);
  const xp = run(
    w,
    'PadV2',
    { x },
    {
      paddings: [
        [0, 0],
        [g.pt, hp - g.pt - g.h],
        [g.pl, wp - g.pl - g.w],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  return { xp, hp, wp };
}

function tapWindow(w: Wasm, xp: TensorInfo, g: ConvGeometry, kh: number, kw: number): TensorInfo {
  // Input pixels seen by tap (kh, kw) for every output pixel: [N, OH, OW, C].
  return run(
    w,
    'StridedSlice',
    { x: xp },
    {
      begin: [0, kh, kw, 0],
      end: [g.n, kh + (g.oh - 1) * g.sh + 1, kw + (g.ow - 1) * g.sw + 1, g.ci],
      strides: [1, g.sh, g.sw, 1],
      beginMask: 0,
      endMask: 0,
      ellipsisMask: 0,
      newAxisMask: 0,
      shrinkAxisMask: 0,
    },
  );
}

export function depthwiseBackpropFilterKernel(args: {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: unknown;
  attrs: DepthwiseAttrs & { filterShape: number[] };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { x, dy } = args.inputs;
  const g = depthwiseGeometry(x.shape, args.attrs.filterShape, args.attrs);
  const cm = g.ci * g.m;
  const out = alloc(w, [g.kh, g.kw, g.ci, g.m]);
  const { xp } = padForTaps(w, x, g);
  const dy5 = reshape(w, dy, [g.n, g.oh, g.ow, g.ci, g.m]); // channel c·M + m → [.., C, M]
  try {
    for (let kh = 0; kh < g.kh; kh++) {
      for (let kw = 0; kw < g.kw; kw++) {
        const win = tapWindow(w, xp, g, kh, kw); // [N, OH, OW, C]
        const win5 = reshape(w, win, [g.n, g.oh, g.ow, g.ci, 1]); // broadcast over M
        const prod = run(w, 'Multiply', { a: win5, b: dy5 }); // [N, OH, OW, C, M]
        const tap = run(w, 'Sum', { x: prod }, { axis: [0, 1, 2], keepDims: false }); // [C, M]
        const dst = heapOffset(w, out) / 4 + (kh * g.kw + kw) * cm;
        const src = heapOffset(w, tap) / 4;
        w.module.HEAPF32.copyWithin(dst, src, src + cm);
        dispose(w, win, win5, prod, tap);
      }
    }
  } finally {
    dispose(w, xp, dy5);
  }
  return out;
}

export function depthwiseBackpropInputKernel(args: {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: unknown;
  attrs: DepthwiseAttrs & { inputShape: number[] };
}): TensorInfo {
  const w = wasmOf(args.backend);
  const { dy, filter } = args.inputs;
  const g = depthwiseGeometry(args.attrs.inputShape, filter.shape, args.attrs);
  const hp = Math.max(g.pt + g.h, (g.oh - 1) * g.sh + g.kh);
  const wp = Math.max(g.pl + g.w, (g.ow - 1) * g.sw + g.kw);
  const dy5 = reshape(w, dy, [g.n, g.oh, g.ow, g.ci, g.m]); // [.., C, M]
  let acc: TensorInfo | undefined; // [N, Hp, Wp, C] in padded input coordinates
  try {
    for (let kh = 0; kh < g.kh; kh++) {
      for (let kw = 0; kw < g.kw; kw++) {
        const wTap = run(w, 'Slice', { x: filter }, { begin: [kh, kw, 0, 0], size: [1, 1, g.ci, g.m] }); // [1,1,C,M]
        const wTap5 = reshape(w, wTap, [1, 1, 1, g.ci, g.m]);
        const prod = run(w, 'Multiply', { a: dy5, b: wTap5 }); // [N, OH, OW, C, M]
        const contrib = run(w, 'Sum', { x: prod }, { axis: [4], keepDims: false }); // [N, OH, OW, C]
        // Spread output pixel (oh, ow) to padded input pixel (oh·sh + kh, ow·sw + kw): interleave zeros
        // by padding a unit axis after each spatial axis, then shift by the tap offset.
        const c6 = reshape(w, contrib, [g.n, g.oh, 1, g.ow, 1, g.ci]);
        const spread6 = run(
          w,
          'PadV2',
          { x: c6 },
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
        const spread = reshape(w, spread6, [g.n, g.oh * g.sh, g.ow * g.sw, g.ci]); // zeros between outputs
        // Keep rows up to hp (the stride tail may overhang), then shift by (kh, kw).
        const rows = Math.min(g.oh * g.sh, hp - kh);
        const cols = Math.min(g.ow * g.sw, wp - kw);
        const cropped = run(w, 'Slice', { x: spread }, { begin: [0, 0, 0, 0], size: [g.n, rows, cols, g.ci] });
        const placed = run(
          w,
          'PadV2',
          { x: cropped },
          {
            paddings: [
              [0, 0],
              [kh, hp - kh - rows],
              [kw, wp - kw - cols],
              [0, 0],
            ],
            constantValue: 0,
          },
        );
        dispose(w, wTap, wTap5, prod, contrib, c6, spread6, spread, cropped);
        if (acc) {
          const s = run(w, 'Add', { a: acc, b: placed });
          dispose(w, acc, placed);
          acc = s;
        } else {
          acc = placed;
        }
      }
    }
  } finally {
    dispose(w, dy5);
  }
  if (!acc) return alloc(w, args.attrs.inputShape);
  // Back from padded coordinates to the input: [N, H, W, C].
  const dx = run(w, 'Slice', { x: acc }, { begin: [0, g.pt, g.pl, 0], size: [g.n, g.h, g.w, g.ci] });
  dispose(w, acc);
  return dx;
}

export const depthwiseBackpropFilterConfig = (): tf.KernelConfig => ({
  kernelName: 'DepthwiseConv2dNativeBackpropFilter',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropFilterKernel as unknown as tf.KernelFunc,
});

export const depthwiseBackpropInputConfig = (): tf.KernelConfig => ({
  kernelName: 'DepthwiseConv2dNativeBackpropInput',
  backendName: 'wasm',
  kernelFunc: depthwiseBackpropInputKernel as unknown as tf.KernelFunc,
});
