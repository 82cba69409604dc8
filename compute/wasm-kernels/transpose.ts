/**
 * Transpose for wasm without the rank-5+ slow path.
 *
 * The built-in kernel has hand-written loops for rank 2, 3 and 4 but a generic path for rank ≥ 5 that
 * allocates index vectors per element (a 5-D transpose of 0.8 M floats took ~97 ms). Most high-rank
 * transposes in models are low-rank ones in disguise: size-1 dims can be dropped and input dims that
 * stay adjacent and in order can be merged (e.g. [B,T,3,H,D] → [3,B,H,T,D] keeps D innermost). What
 * is still rank ≥ 5 after that is split into two transposes of rank ≤ 4 each: first bring the
 * leading output dim to the front (a rank-≤3 transpose), then permute the rest under it.
 */
import type * as tf from '@tensorflow/tfjs';
import { dispose, reshape, run, size, wasmOf, type TensorInfo, type Wasm } from './wasm-ops';

export interface ReducedTranspose {
  shape: number[];
  perm: number[];
}

/** Drops size-1 dims and merges runs of input dims that stay adjacent and ordered in the output. */
export function reduceTranspose(shape: readonly number[], perm: readonly number[]): ReducedTranspose {
  // Keep only dims of size > 1; renumber them in input order.
  const kept: number[] = [];
  for (let i = 0; i < shape.length; i++) if ((shape[i] as number) !== 1) kept.push(i);
  const renumber = new Map(kept.map((d, i) => [d, i]));
  const p: number[] = [];
  for (const d of perm) {
    const r = renumber.get(d);
    if (r !== undefined) p.push(r);
  }
  const s = kept.map((d) => shape[d] as number);
  // Groups of input dims, in output order: a new group starts unless the next output dim is the
  // input dim right after the previous one.
  const groups: number[][] = [];
  for (const d of p) {
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] === d - 1) last.push(d);
    else groups.push([d]);
  }
  // Input order of the groups is the order of their first input dim.
  const byInput = groups.map((g, outPos) => ({ first: g[0] as number, outPos, n: g.reduce((a, d) => a * (s[d] as number), 1) }));
  byInput.sort((a, b) => a.first - b.first);
  const inPosOfOut = new Array<number>(groups.length);
  byInput.forEach((g, inPos) => (inPosOfOut[g.outPos] = inPos));
  return { shape: byInput.map((g) => g.n), perm: inPosOfOut };
}

function leadingIdentity(perm: readonly number[]): number {
  let i = 0;
  while (i < perm.length && perm[i] === i) i++;
  return i;
}

/** Transposes `x` by `perm`; the result has shape perm(x.shape). */
function transposeFull(w: Wasm, x: TensorInfo, perm: readonly number[]): TensorInfo {
  const outShape = perm.map((d) => x.shape[d] as number);
  const r = reduceTranspose(x.shape, perm);
  const xr = reshape(w, x, r.shape); // [merged input dims]
  let yr: TensorInfo;
  try {
    yr = transposeReducedShape(w, xr, r.perm);
  } finally {
    dispose(w, xr);
  }
  const y = reshape(w, yr, outShape); // [merged output dims] → perm(x.shape)
  dispose(w, yr);
  return y;
}

/** `x`/`perm` are already reduced; the result has shape perm(x.shape). */
function transposeReducedShape(w: Wasm, x: TensorInfo, perm: number[]): TensorInfo {
  const lead = leadingIdentity(perm);
  if (lead === perm.length) return reshape(w, x, x.shape); // no-op permutation: share the block
  // The built-in kernel folds leading identity dims itself, so only the rest counts toward rank 4.
  if (perm.length - lead <= 4) return run(w, 'Transpose', { x }, { perm });
  // Step 1: move input dim perm[lead] to position `lead`; the dims before and after it keep their order
  // (so after merging this is a transpose of rank ≤ 3).
  const moved = perm[lead] as number;
  const perm1: number[] = [];
  for (let i = 0; i < lead; i++) perm1.push(i);
  perm1.push(moved);
  for (let i = lead; i < perm.length; i++) if (i !== moved) perm1.push(i);
  const step1 = transposeFull(w, x, perm1); // shape perm1(x.shape)
  // Step 2: the rest of the permutation on step1's axes; its first lead+1 dims are now in place.
  const posInStep1 = new Map(perm1.map((d, i) => [d, i]));
  const perm2 = perm.map((d) => posInStep1.get(d) as number);
  try {
    return transposeFull(w, step1, perm2);
  } finally {
    dispose(w, step1);
  }
}

export function transposeKernel(args: { inputs: { x: TensorInfo }; backend: unknown; attrs: { perm: number[] } }): TensorInfo {
  const w = wasmOf(args.backend);
  const { x } = args.inputs;
  const perm = args.attrs.perm;
  if (x.dtype === 'string' || size(x.shape) === 0) return run(w, 'Transpose', { x }, { perm });
  return transposeFull(w, x, perm);
}

/** Used by other kernels of ours (matmul operands, conv layouts). */
export function transposeWasm(w: Wasm, x: TensorInfo, perm: readonly number[]): TensorInfo {
  return transposeFull(w, x, perm);
}

export const transposeConfig = (): tf.KernelConfig => ({
  kernelName: 'Transpose',
  backendName: 'wasm',
  kernelFunc: transposeKernel as unknown as tf.KernelFunc,
});
