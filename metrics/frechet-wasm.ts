/**
 * Loads metrics/frechet-kernels.wasm (built from metrics/kernels/src/lib.rs by
 * metrics/kernels/build.sh; the binary is committed so no Rust toolchain is needed to run) and
 * exposes its float64 routines on JS typed arrays. One module instance per process, created on
 * first use; its memory (shared, so that a helper thread can work on it: metrics/frechet-threads.ts)
 * grows as needed and is released after every call. traceSqrtProduct and symmetricEigenvalues run
 * on up to two threads (kernelThreads); the helper starts on the first call that wants it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PipelineError } from '../core/errors';
import { kernelImports, kernelThreads, startHelper, type SharedMemory } from './frechet-threads';

// The project's lib settings (ES2023, no DOM) carry no WebAssembly typings; this is the part we use.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => SharedMemory;
};

interface KernelExports {
  memory: SharedMemory;
  alloc_f64(n: number): number;
  free_f64(p: number, n: number): void;
  trace_sqrt_product(s1: number, s2: number, n: number, out: number, knownSingular: number): number;
  symmetric_eigenvalues(a: number, n: number, out: number): number;
  symmetric_eigenvalues_with(a: number, n: number, out: number, panel: number, crossover: number): number;
  set_threads(n: number): void;
  helper_count(): number;
  helper_strikes(): number;
  helper_blocks(): number;
  gemm_nt_ld(mi: number, nj: number, kk: number, alpha: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number): void;
}

export const KERNEL_FILE = path.join(__dirname, 'frechet-kernels.wasm');
let instance: KernelExports | undefined;
let kernelModule: object | undefined;
let helperStarted = false;
let lastThreads = 1;

function kernels(): KernelExports {
  if (instance) return instance;
  let bytes: Buffer;
  try {
    bytes = readFileSync(KERNEL_FILE);
  } catch (e) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${KERNEL_FILE}: cannot read the Fréchet kernels (${(e as Error).message}); rebuild with bash metrics/kernels/build.sh`,
      { cause: e },
    );
  }
  kernelModule = new WebAssembly.Module(bytes);
  // 64 pages = the module's --initial-memory; 65536 pages = 4 GiB, wasm32's limit (only reserved).
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  const exports = new WebAssembly.Instance(kernelModule, { env: kernelImports(memory) }).exports as Omit<KernelExports, 'memory'>;
  instance = { ...exports, memory };
  return instance;
}

/** Sets the thread count for the next kernel call, starting the helper the first time two are wanted. */
/** The kernels' PAR_MIN: below this size they run on one thread whatever they are allowed. */
const PARALLEL_MIN_SIZE = 256;

function useThreads(k: KernelExports, requested: number | undefined, n: number): void {
  // A small matrix is not split anyway: skip the free-core check (it sleeps 2 ms) and the helper.
  const threads = n < PARALLEL_MIN_SIZE && requested === undefined ? 1 : kernelThreads(requested);
  if (threads > 1 && !helperStarted) {
    helperStarted = true;
    const stackBytes = 1 << 20;
    startHelper(kernelModule!, k.memory, k.alloc_f64(stackBytes / 8) + stackBytes);
  }
  k.set_threads(threads);
  lastThreads = threads;
}

/**
 * Whether the helper thread is parked and ready, and for the last call the threads it was given, the blocks the helper ran and the
 * times the caller waited far longer than a block for it (after 3 the call finishes on one thread).
 */
export function kernelThreadState(): { threads: number; helperReady: boolean; helperBlocks: number; strikes: number } {
  const k = kernels();
  return { threads: lastThreads, helperReady: k.helper_count() > 0, helperBlocks: k.helper_blocks(), strikes: k.helper_strikes() };
}

export interface KernelOptions {
  /** Threads to use (1 or 2; default: ROBUSTOK_FRECHET_THREADS, else two when a core is free: kernelThreads). */
  readonly threads?: number;
}

/** Copies arrays in, runs `fn` with their pointers, frees everything (also on error). */
function withBuffers<T>(inputs: Float64Array[], outputs: number[], fn: (k: KernelExports, ptrs: number[]) => T): T {
  const k = kernels();
  const sizes = [...inputs.map((a) => Math.max(1, a.length)), ...outputs.map((n) => Math.max(1, n))];
  const ptrs = sizes.map((n) => k.alloc_f64(n));
  try {
    inputs.forEach((a, i) => new Float64Array(k.memory.buffer, ptrs[i], a.length).set(a));
    return fn(k, ptrs);
  } finally {
    ptrs.forEach((p, i) => k.free_f64(p, sizes[i] ?? 1));
  }
}

export interface TraceSqrtResult {
  /** Σ sqrt(max(λ, 0)) over the eigenvalues λ of S1 S2. */
  readonly traceSqrt: number;
  readonly minEigenvalue: number;
  readonly maxEigenvalue: number;
  /** Which factorisation was used: plain Cholesky of S1, or the pivoted (rank-revealing) one of a singular S1 or S2. */
  readonly method: 'cholesky' | 'pivoted-cholesky-s1' | 'pivoted-cholesky-s2';
  readonly rank: number;
  /** Most negative diagonal left by a pivoted factorisation, relative to the largest (0 if none). */
  readonly negativePivot: number;
}

/**
 * tr sqrt(S1 S2) for symmetric PSD n×n matrices (row-major, both triangles filled).
 * `knownSingular` says which is singular for certain (a covariance of at most n samples), so the
 * kernel factors it with pivoting at once; the result is the same without it, found more slowly.
 */
export function traceSqrtProduct(
  s1: Float64Array,
  s2: Float64Array,
  n: number,
  knownSingular: { s1?: boolean; s2?: boolean } = {},
  options: KernelOptions = {},
): TraceSqrtResult {
  return withBuffers([s1, s2], [6], (k, [p1, p2, po]) => {
    useThreads(k, options.threads, n);
    const status = k.trace_sqrt_product(p1!, p2!, n, po!, (knownSingular.s1 ? 1 : 0) | (knownSingular.s2 ? 2 : 0));
    const out = new Float64Array(k.memory.buffer, po, 6).slice();
    if (status !== 0) throw new PipelineError('INTERNAL', `tr sqrt(S1 S2): the eigenvalue iteration did not converge (d = ${n})`);
    const methods = ['cholesky', 'pivoted-cholesky-s1', 'pivoted-cholesky-s2'] as const;
    return {
      traceSqrt: out[0]!,
      minEigenvalue: out[1]!,
      maxEigenvalue: out[2]!,
      method: methods[out[3]!] ?? 'cholesky',
      rank: out[4]!,
      negativePivot: out[5]!,
    };
  });
}

/**
 * Eigenvalues (unordered) of a symmetric n×n matrix; only its upper triangle is read. `blocking`
 * overrides the tridiagonalisation's panel width and the trailing size below which it runs
 * unblocked (tests use it to reach the blocked path on small matrices).
 */
export function symmetricEigenvalues(a: Float64Array, n: number, blocking?: { panel: number; crossover: number }, options: KernelOptions = {}): Float64Array {
  return withBuffers([a], [n], (k, [pa, po]) => {
    useThreads(k, options.threads, n);
    const status = blocking ? k.symmetric_eigenvalues_with(pa!, n, po!, blocking.panel, blocking.crossover) : k.symmetric_eigenvalues(pa!, n, po!);
    if (status !== 0) throw new PipelineError('INTERNAL', `symmetric eigenvalues did not converge (n = ${n})`);
    return new Float64Array(k.memory.buffer, po, n).slice();
  });
}

/** C = A Bᵀ for row-major A (mi×kk) and B (nj×kk). */
export function gemmNT(a: Float64Array, b: Float64Array, mi: number, nj: number, kk: number): Float64Array {
  return withBuffers([a, b], [mi * nj], (k, [pa, pb, pc]) => {
    new Float64Array(k.memory.buffer, pc, mi * nj).fill(0);
    k.gemm_nt_ld(mi, nj, kk, 1, pa!, kk, pb!, kk, pc!, nj);
    return new Float64Array(k.memory.buffer, pc, mi * nj).slice();
  });
}

/**
 * Float64 storage inside the kernels' memory, for callers that stream many products into one
 * accumulator (covariances, distance blocks) without copying it back and forth. Call free().
 */
export class WasmF64 {
  readonly ptr: number;
  constructor(readonly length: number) {
    this.ptr = kernels().alloc_f64(Math.max(1, length));
  }
  /** A view that is valid until the next allocation (memory growth detaches old views). */
  view(): Float64Array {
    return new Float64Array(kernels().memory.buffer, this.ptr, this.length);
  }
  free(): void {
    kernels().free_f64(this.ptr, Math.max(1, this.length));
  }
}

/** C[i][j] += alpha Σ_m A[i][m] B[j][m] on sub-matrices given by element offsets and row strides. */
export function gemmNTInto(
  c: { buf: WasmF64; offset?: number; ld: number },
  a: { buf: WasmF64; offset?: number; ld: number },
  b: { buf: WasmF64; offset?: number; ld: number },
  mi: number,
  nj: number,
  kk: number,
  alpha = 1,
): void {
  const at = (x: { buf: WasmF64; offset?: number }) => x.buf.ptr + 8 * (x.offset ?? 0);
  kernels().gemm_nt_ld(mi, nj, kk, alpha, at(a), a.ld, at(b), b.ld, at(c), c.ld);
}
