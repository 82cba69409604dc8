/**
 * Fréchet distance at d = 2048 on one and two threads against NumPy's eigh route on two and one,
 * interleaved: every round runs ours (1 thread), ours (2 threads), ours with the default thread
 * choice ("auto": two only when a core is free, metrics/frechet-threads.ts), NumPy
 * (OPENBLAS_NUM_THREADS=2), NumPy (=1) on the same statistics, so load changes on this shared
 * machine hit all of them alike.
 * Wall and CPU seconds (ours: the whole process, helper thread included; NumPy: its own process
 * time, timed inside Python around eigh_frechet only) and the 1-minute load average before each
 * measurement. JSON on stdout.
 *
 *   FID_BENCH_PYTHON=<python with numpy> npx tsx bench/frechet-threads.ts [--rounds 4] [--d 2048] [--samples2 3000]
 * --samples2 ≤ d makes the second covariance singular (eval-fid's usual case: few generated
 * samples against a regular reference), which takes the pivoted-Cholesky path.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { encodeNpz } from '../data/npz';
import { frechetDistance } from '../metrics/frechet';
import { kernelThreadState } from '../metrics/frechet-wasm';
import { otherRunnableThreads } from '../metrics/frechet-threads';
import { ensureOpenblasCore } from './openblas-core';
import { syntheticStats } from './synthetic-stats';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface Sample {
  readonly wall_s: number;
  readonly cpu_s: number;
  readonly load: number;
  /** Other runnable threads just before the measurement (instantaneous, unlike the load average). */
  readonly others: number;
  readonly fid: number;
  readonly strikes?: number;
  readonly helperBlocks?: number;
  readonly threads?: number;
}

const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

async function main() {
  const d = Number(arg('--d') ?? 2048);
  const rounds = Number(arg('--rounds') ?? 4);
  const py = process.env.FID_BENCH_PYTHON ?? 'python3';
  const a = syntheticStats(d, 3000, 1);
  const samples2 = Number(arg('--samples2') ?? 3000);
  const b = { ...syntheticStats(d, samples2, 2), count: samples2 };
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'frechet-threads-')), 'stats.npz');
  await writeFile(
    file,
    encodeNpz({
      mu1: { data: a.mu, shape: [d] },
      sigma1: { data: a.sigma, shape: [d, d] },
      mu2: { data: b.mu, shape: [d] },
      sigma2: { data: b.sigma, shape: [d, d] },
    }),
  );
  const openblas = ensureOpenblasCore(py);
  const ours = (threads: number | undefined): Sample => {
    const load = os.loadavg()[0]!;
    const others = otherRunnableThreads();
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    const r = frechetDistance(a, b, undefined, { threads });
    const wall = Number(process.hrtime.bigint() - t) / 1e9;
    const cu = process.cpuUsage(c);
    return {
      wall_s: wall,
      cpu_s: (cu.user + cu.system) / 1e6,
      load,
      others,
      fid: r.value,
      strikes: kernelThreadState().strikes,
      helperBlocks: kernelThreadState().helperBlocks,
      threads: kernelThreadState().threads,
    };
  };
  const numpy = (threads: number): Sample => {
    const load = os.loadavg()[0]!;
    const others = otherRunnableThreads();
    const out = execFileSync(py, [path.join(__dirname, 'fid_scipy.py'), file, '--eigh-only'], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) },
    });
    const r = (JSON.parse(out) as { numpy_eigh: { fid: number; wall_s: number; cpu_s: number } }).numpy_eigh;
    return { wall_s: r.wall_s, cpu_s: r.cpu_s, load, others, fid: r.fid };
  };
  // Warm-up: compiles the kernels and starts the helper thread (not timed).
  frechetDistance(a, b, undefined, { threads: 2 });
  const runs: Record<string, Sample[]> = { ours_1: [], ours_2: [], ours_auto: [], numpy_2: [], numpy_1: [] };
  for (let r = 0; r < rounds; r++) {
    runs.ours_1!.push(ours(1));
    runs.ours_2!.push(ours(2));
    runs.ours_auto!.push(ours(undefined));
    runs.numpy_2!.push(numpy(2));
    runs.numpy_1!.push(numpy(1));
  }
  const summary = Object.fromEntries(
    Object.entries(runs).map(([name, xs]) => [
      name,
      {
        wall_s: xs.map((x) => round3(x.wall_s)),
        cpu_s: xs.map((x) => round3(x.cpu_s)),
        load: xs.map((x) => Math.round(x.load * 100) / 100),
        others_runnable: xs.map((x) => x.others),
        wall_median: round3(median(xs.map((x) => x.wall_s))),
        cpu_median: round3(median(xs.map((x) => x.cpu_s))),
        ...(xs[0]!.strikes === undefined
          ? {}
          : { threads: xs.map((x) => x.threads), strikes: xs.map((x) => x.strikes), helper_blocks: xs.map((x) => x.helperBlocks) }),
      },
    ]),
  );
  // Per-round ratios: the figures that mean something on a shared machine.
  const ratio = (p: string, q: string) => runs[p]!.map((x, i) => round3(x.wall_s / runs[q]![i]!.wall_s));
  const fid = runs.ours_1![0]!.fid;
  console.log(
    JSON.stringify(
      {
        d,
        samples2,
        rounds,
        cpus: os.availableParallelism(),
        openblas_core: openblas,
        fid: {
          ours_1: fid,
          ours_2: runs.ours_2![0]!.fid,
          numpy: runs.numpy_2![0]!.fid,
          relative_vs_numpy: Math.abs(fid - runs.numpy_2![0]!.fid) / Math.abs(fid),
        },
        runs: summary,
        wall_ratio_per_round: {
          ours_2_over_ours_1: ratio('ours_2', 'ours_1'),
          ours_2_over_numpy_2: ratio('ours_2', 'numpy_2'),
          ours_1_over_numpy_1: ratio('ours_1', 'numpy_1'),
        },
      },
      null,
      1,
    ),
  );
}

void main();
