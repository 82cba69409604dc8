/**
 * Where the Fréchet kernel's time goes: CPU milliseconds of its stages (Cholesky, Lᵀ Σ2 L,
 * tridiagonalisation, tridiagonal QL) at dimension d, from a build of metrics/kernels with the
 * `profile` cargo feature (stage clocks imported from the host). Several builds given with --wasm
 * run interleaved in one process on the same matrices, which is the fair way to A/B a kernel change
 * on a shared machine; min and median over the repetitions are printed with the load average.
 *
 *   npx tsx bench/frechet-stages.ts [--d 2048] [--reps 5] [--wasm a.wasm,b.wasm]
 * Without --wasm it builds the current source (needs cargo and the wasm32-unknown-unknown target).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { syntheticStats } from './synthetic-stats';

// The project's lib settings carry no WebAssembly typings; this is the part used here.
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};
interface ProfileExports {
  memory: { buffer: ArrayBuffer };
  alloc_f64(n: number): number;
  profile_stages(s1: number, s2: number, n: number, out: number): void;
}

const STAGES = ['cholesky', 'product', 'tridiagonalize', 'ql'] as const;

function buildProfileKernel(): string {
  const crate = path.join(__dirname, '..', 'metrics', 'kernels');
  const target = path.join(crate, 'target', 'profile-build');
  execFileSync('cargo', ['build', '--release', '--features', 'profile', '--target', 'wasm32-unknown-unknown', '--target-dir', target], {
    cwd: crate,
    env: { ...process.env, RUSTFLAGS: '-C target-feature=+simd128' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return path.join(target, 'wasm32-unknown-unknown', 'release', 'frechet_kernels.wasm');
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function main() {
  const d = Number(arg('--d') ?? 2048);
  const reps = Number(arg('--reps') ?? 5);
  const files = arg('--wasm')?.split(',') ?? [buildProfileKernel()];
  const m = Math.max(d + 100, 3000);
  const s1 = syntheticStats(d, m, 1).sigma;
  const s2 = syntheticStats(d, m, 2).sigma;
  const runs = files.map((file) => {
    const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), { env: { now: cpuMs } }).exports as ProfileExports;
    return { file, k, p1: k.alloc_f64(d * d), p2: k.alloc_f64(d * d), po: k.alloc_f64(4), rows: [] as number[][] };
  });
  for (let r = 0; r < reps; r++) {
    for (const x of runs) {
      // The kernel reads its inputs only, but copy afresh anyway so every run starts alike.
      new Float64Array(x.k.memory.buffer, x.p1, d * d).set(s1);
      new Float64Array(x.k.memory.buffer, x.p2, d * d).set(s2);
      const t = cpuMs();
      x.k.profile_stages(x.p1, x.p2, d, x.po);
      x.rows.push([...new Float64Array(x.k.memory.buffer, x.po, 4), cpuMs() - t]);
    }
  }
  const stat = (rows: number[][], pick: (v: number[]) => number) =>
    Object.fromEntries([...STAGES, 'total'].map((name, i) => [name, Math.round(pick(rows.map((row) => row[i]!).sort((p, q) => p - q)))]));
  const result = runs.map((x) => ({
    wasm: x.file,
    cpu_ms_min: stat(x.rows, (v) => v[0]!),
    cpu_ms_median: stat(x.rows, (v) => v[Math.floor(v.length / 2)]!),
  }));
  console.log(JSON.stringify({ d, reps, loadavg: os.loadavg(), runs: result }, null, 1));
}

main();
