/**
 * Where the Fréchet kernel's time goes: milliseconds of its stages (Cholesky, Lᵀ Σ2 L,
 * tridiagonalisation, tridiagonal QL) at dimension d, from a build of metrics/kernels with the
 * `profile` cargo feature (stage clocks imported from the host). Several builds given with --wasm
 * run interleaved in one process on the same matrices, which is the fair way to A/B a kernel change
 * on a shared machine; min and median over the repetitions are printed with the load average.
 * On one thread the stage clock is the process's CPU time; with --threads 2 it is wall time (CPU
 * time then counts both threads) and the total CPU time is reported beside it. The profile build
 * never gives up on the helper (no late-helper strikes), so on a loaded machine its two-thread
 * figures show the stalls that the production build cuts short.
 *
 *   npx tsx bench/frechet-stages.ts [--d 2048] [--reps 5] [--threads 1] [--wasm a.wasm,b.wasm]
 * Without --wasm it builds the current source (FRECHET_PROFILE=1 bash metrics/kernels/build.sh;
 * needs cargo and the wasm32-unknown-unknown target). Builds from before the shared memory
 * (single-threaded ones, which import no memory) run too, on one thread.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { kernelImports, startHelper, type SharedMemory } from '../metrics/frechet-threads';
import { syntheticStats } from './synthetic-stats';

// The project's lib settings carry no WebAssembly typings; this is the part used here.
declare const WebAssembly: {
  Module: { new (bytes: Uint8Array): object; imports(m: object): { name: string; kind: string }[] };
  Instance: new (module: object, imports: object) => { exports: unknown };
  Memory: new (descriptor: { initial: number; maximum: number; shared: true }) => SharedMemory;
};
interface ProfileExports {
  memory: { buffer: ArrayBufferLike };
  alloc_f64(n: number): number;
  profile_stages(s1: number, s2: number, n: number, out: number): void;
  set_threads?(n: number): void;
  helper_count?(): number;
}

const STAGES = ['cholesky', 'product', 'tridiagonalize', 'ql'] as const;

function buildProfileKernel(): string {
  const script = path.join(__dirname, '..', 'metrics', 'kernels', 'build.sh');
  return execFileSync('bash', [script], { env: { ...process.env, FRECHET_PROFILE: '1' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Instantiates a profile build; a shared-memory build gets the thread imports and, for 2 threads, a helper. */
function instantiate(file: string, threads: number, clock: () => number): ProfileExports {
  const mod = new WebAssembly.Module(readFileSync(file));
  if (!WebAssembly.Module.imports(mod).some((i) => i.kind === 'memory')) {
    return new WebAssembly.Instance(mod, { env: { now: clock } }).exports as ProfileExports;
  }
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  const k = { ...(new WebAssembly.Instance(mod, { env: { ...kernelImports(memory), now: clock } }).exports as ProfileExports), memory };
  k.set_threads!(threads);
  if (threads > 1) startHelper(mod, memory, k.alloc_f64(1 << 17) + (1 << 20));
  return k;
}

async function main() {
  const d = Number(arg('--d') ?? 2048);
  const reps = Number(arg('--reps') ?? 5);
  const threads = Number(arg('--threads') ?? 1);
  const clock = threads > 1 ? () => performance.now() : cpuMs;
  const files = arg('--wasm')?.split(',') ?? [buildProfileKernel()];
  const m = Math.max(d + 100, 3000);
  const s1 = syntheticStats(d, m, 1).sigma;
  const s2 = syntheticStats(d, m, 2).sigma;
  const runs = files.map((file) => {
    const k = instantiate(file, threads, clock);
    return { file, k, p1: k.alloc_f64(d * d), p2: k.alloc_f64(d * d), po: k.alloc_f64(4), rows: [] as number[][] };
  });
  // Give the helpers time to park (they start asynchronously).
  const t0 = Date.now();
  while (threads > 1 && runs.some((x) => x.k.helper_count && x.k.helper_count() === 0) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  for (let r = 0; r < reps; r++) {
    for (const x of runs) {
      // The kernel reads its inputs only, but copy afresh anyway so every run starts alike.
      new Float64Array(x.k.memory.buffer, x.p1, d * d).set(s1);
      new Float64Array(x.k.memory.buffer, x.p2, d * d).set(s2);
      x.k.set_threads?.(threads); // also clears the late-helper strikes of the previous repetition
      const t = clock();
      const c = cpuMs();
      x.k.profile_stages(x.p1, x.p2, d, x.po);
      x.rows.push([...new Float64Array(x.k.memory.buffer, x.po, 4), clock() - t, cpuMs() - c]);
    }
  }
  const names = [...STAGES, 'total', 'cpu_total'];
  const stat = (rows: number[][], pick: (v: number[]) => number) =>
    Object.fromEntries(names.map((name, i) => [name, Math.round(pick(rows.map((row) => row[i]!).sort((p, q) => p - q)))]));
  const unit = threads > 1 ? 'wall' : 'cpu';
  const result = runs.map((x) => ({
    wasm: x.file,
    [`${unit}_ms_min`]: stat(x.rows, (v) => v[0]!),
    [`${unit}_ms_median`]: stat(x.rows, (v) => v[Math.floor(v.length / 2)]!),
  }));
  console.log(JSON.stringify({ d, reps, threads, loadavg: os.loadavg(), runs: result }, null, 1));
}

void main();
