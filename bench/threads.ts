/**
 * Equal thread counts on both sides of a bench case (issue 12, "measure like for like").
 *
 * tfjs-node creates its TensorFlow eager context with default options and exposes no thread setting, and
 * TensorFlow sizes its thread pools once per process from the environment. So our side of a threaded case
 * runs in a child process started with the variables TensorFlow (and the OpenMP / OpenBLAS runtimes that
 * PyTorch uses) honour; the PyTorch side gets the same variables plus torch.set_num_threads.
 *
 * OMP_WAIT_POLICY=PASSIVE: with GNU OpenMP's default (spin before sleeping), PyTorch at 2 threads on
 * this shared 2-core machine at load ~13 took 8.8 s for the smoke train step against 1.4 s passive
 * (1.1 s at 1 thread): spinning threads burn the scarce time slices waiting at each parallel region's
 * barrier. TensorFlow's pools are not OpenMP, so this only stops the reference from being penalised by
 * other users' load.
 *
 * Each timing also records `cores`: process CPU time / wall time over the timed steps (all threads of the
 * process). It is the evidence that a setting took effect: ≤ 1 at one thread, above 1 when a second core
 * is used. On a loaded machine it drops below the thread count (the process waits for a core).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Environment that fixes the thread pools of TensorFlow, OpenMP and OpenBLAS to `threads`. */
export function threadEnv(threads: number): Record<string, string> {
  const n = String(threads);
  return {
    TF_NUM_INTRAOP_THREADS: n,
    TF_NUM_INTEROP_THREADS: n,
    OMP_NUM_THREADS: n,
    OPENBLAS_NUM_THREADS: n,
    MKL_NUM_THREADS: n,
    OMP_WAIT_POLICY: 'PASSIVE',
  };
}

/** Cap on the calls `timeSteps` makes to reach its time floor (a 10 µs kernel would otherwise run 50 000). */
export const MAX_REPS = 400;

export interface StepTiming {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  reps: number;
  /** Process CPU time / wall time over the timed reps (average cores busy). */
  cores: number;
}

/**
 * Median wall time of `fn` (which must wait for its result) after `warmup` untimed calls. With `minMs`,
 * timing goes on past `reps` until the timed calls add up to `minMs` (at most `MAX_REPS` calls): a
 * median of 5 calls of a 1 ms kernel is one scheduler hiccup away from a different figure, and the
 * PyTorch side (bench/torch_bench.py's median_ms) follows the same rule, so both medians cover a
 * similar stretch of time.
 */
export function timeSteps(fn: () => void, reps: number, warmup: number, minMs = 0): StepTiming {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let timed = 0;
  while (times.length < reps || (timed < minMs && times.length < MAX_REPS)) {
    const t0 = performance.now();
    fn();
    const dt = performance.now() - t0;
    times.push(dt);
    timed += dt;
  }
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  return {
    median_ms: times[Math.floor(times.length / 2)] as number,
    min_ms: times[0] as number,
    max_ms: times[times.length - 1] as number,
    reps: times.length,
    cores: (cpu.user + cpu.system) / 1000 / wall,
  };
}

/**
 * Runs `script` (a bench/*.ts file whose main reads one JSON document on stdin and prints one JSON line
 * last on stdout) under tsx in a child process with `threads` threads and the given backend.
 */
export function runOursInChild<T>(script: string, input: object, threads: number, backend: string): T {
  const root = path.join(__dirname, '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, script)], {
    cwd: root,
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: 30 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...threadEnv(threads), ROBUSTOK_BACKEND: backend, TF_CPP_MIN_LOG_LEVEL: process.env.TF_CPP_MIN_LOG_LEVEL ?? '2' },
  });
  if (r.status !== 0) throw new Error(`${script} (${threads} thread(s)) failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as T;
}

/** Runs a PyTorch bench script at `threads` threads (it must call torch.set_num_threads itself). */
export function runTorchAtThreads<T>(python: string, script: string, input: object, threads: number): T {
  const r = spawnSync(python, [path.join(__dirname, script)], {
    input: JSON.stringify({ ...input, threads }),
    encoding: 'utf8',
    timeout: 30 * 60_000,
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, ...threadEnv(threads) },
  });
  if (r.status !== 0) throw new Error(`${script} (${threads} thread(s)) failed (exit ${r.status ?? r.signal}): ${(r.stderr ?? '').slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as T;
}
