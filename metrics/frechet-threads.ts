/**
 * The second thread of the Fréchet kernels (metrics/kernels/src/lib.rs, "Two threads on one
 * shared memory"): the module imports a shared memory, host functions for sleeping and waking on
 * it and a clock; a helper Worker instantiates the same module on the same memory and parks in
 * its helper_loop. The kernels split their O(n³) loops into blocks that the caller and the helper
 * claim in turn; the split does not depend on the thread count, so neither do the results.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { PipelineError } from '../core/errors';

/** The shared memory's typings (the project's lib settings carry no WebAssembly types). */
export interface SharedMemory {
  readonly buffer: SharedArrayBuffer;
}

export interface KernelImports {
  memory: SharedMemory;
  atomic_wait(addr: number, expected: number): void;
  atomic_notify(addr: number): void;
  clock_ms(): number;
}

/**
 * The kernels' env imports. The control words live in the module's static data at low addresses,
 * so one view made now covers them after any growth.
 */
export function kernelImports(memory: SharedMemory): KernelImports {
  const words = new Int32Array(memory.buffer);
  return {
    memory,
    atomic_wait: (addr, expected) => void Atomics.wait(words, addr >> 2, expected),
    atomic_notify: (addr) => void Atomics.notify(words, addr >> 2),
    clock_ms: () => performance.now(),
  };
}

/** Most threads the kernels can use: the caller plus one helper. */
export const MAX_KERNEL_THREADS = 2;

/**
 * Threads running or waiting to run on the machine besides the calling one: the median of three
 * readings, 1 ms apart, of /proc/loadavg's runnable count (Linux; it counts the reader itself), or
 * the 1-minute load average where that file is missing.
 */
export function otherRunnableThreads(): number {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) Atomics.wait(pause, 0, 0, 1);
    try {
      const runnable = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[3]?.split('/')[0]);
      if (!Number.isFinite(runnable)) break;
      samples.push(runnable - 1);
    } catch {
      break;
    }
  }
  if (samples.length < 3) return Math.round(os.loadavg()[0]!);
  return samples.sort((p, q) => p - q)[1]!;
}

/**
 * Threads for a call: `requested`, else ROBUSTOK_FRECHET_THREADS, else "auto": two when the machine
 * has a core free besides the caller's (otherRunnableThreads), one otherwise or on a single core. A
 * helper on a busy core is descheduled in the middle of its blocks and the caller waits for it,
 * which costs more than the helper gains; the kernels also stop using it when that happens mid-call.
 */
export function kernelThreads(requested?: number): number {
  const env = process.env.ROBUSTOK_FRECHET_THREADS;
  const set = requested ?? (env === undefined || env === '' || env === 'auto' ? undefined : Number(env));
  if (set === undefined) {
    const cores = os.availableParallelism();
    if (cores < 2) return 1;
    return cores - 1 - otherRunnableThreads() >= 1 ? MAX_KERNEL_THREADS : 1;
  }
  if (!Number.isInteger(set) || set < 1) {
    throw new PipelineError(
      'CONFIG_INVALID',
      `Fréchet kernel threads ${requested === undefined ? `ROBUSTOK_FRECHET_THREADS=${env}` : String(requested)}: expected a whole number ≥ 1 or "auto" (1 keeps the computation on the calling thread)`,
    );
  }
  return Math.min(set, MAX_KERNEL_THREADS);
}

// Plain JavaScript, evaluated by the Worker (which does not go through the TypeScript loader).
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const { module, memory, stackTop } = workerData;
const words = new Int32Array(memory.buffer);
const env = {
  memory,
  atomic_wait: (addr, expected) => void Atomics.wait(words, addr >> 2, expected),
  atomic_notify: (addr) => void Atomics.notify(words, addr >> 2),
  clock_ms: () => performance.now(),
  now: () => performance.now(), // only the stage-timing build (bench/frechet-stages.ts) imports it
};
const exports = new WebAssembly.Instance(module, { env }).exports;
// Every instance starts with the same shadow-stack pointer: this thread gets its own stack.
exports.__stack_pointer.value = stackTop;
exports.helper_loop();
`;

/**
 * Starts the helper on `memory` with its shadow stack ending at `stackTop` (allocated by the
 * caller, never freed). The worker is unref'd, so it never keeps the process alive. Until it has
 * parked (and for good if it fails) the kernels run on the calling thread alone.
 */
export function startHelper(module: object, memory: SharedMemory, stackTop: number): Worker {
  // execArgv: [] — the helper needs no TypeScript loader or other flags of this process.
  const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { module, memory, stackTop }, execArgv: [] });
  worker.unref();
  worker.on('error', (e) => console.error(`Fréchet kernels: helper thread failed (${e.message}); continuing on one thread`));
  return worker;
}
