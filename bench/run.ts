/**
 * The bench command (`npm run bench -- [--json] [--backend auto|tensorflow|wasm|cpu] [--suite a,b]
 * [--quick] [--reps N] [--rounds N] [--install-torch] [--profile]`).
 *
 * --rounds N: each case runs both sides N times, back to back (model suites per case, the compute suite
 * per thread count); the reported figures are those of the round with the median ratio, and every round's
 * figures are kept in the case's `rounds`. Single runs on this shared machine move by up to 2×.
 *
 * --profile: suites that support it also print, per case, where one of our steps spends its time (tfjs
 * kernel type, count, total ms; tf.profile times each kernel to completion, so the sum exceeds a step).
 *
 * Suites are discovered, not listed: every `bench/<name>.suite.ts` exporting `suite: BenchSuite` is a
 * suite, so adding one (fid, artifacts, …) never touches this file. Each case is timed on our chosen
 * backend and, where the suite has one, on the PyTorch reference in the same run; `ratio` is
 * ours_ms / torch_ms and `peak_gflops` a measured ceiling of this machine (PyTorch's large matmul on
 * all cores). Timings are medians: the machine is shared and noisy.
 *
 * Output: a table on stderr, and with --json one JSON document on stdout:
 *   {backend, backendInfo, torch, peak_gflops, cases: [{suite, name, threads?, ours_ms, torch_ms, ratio, gflops, peak_gflops, …}]}
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { initBackend, type BackendInfo } from '../compute/backend';
import { findTorch, type TorchRef } from './torch';

export interface BenchCase {
  suite: string;
  name: string;
  ours_ms: number;
  /** null when there is no PyTorch counterpart or no PyTorch on this machine. */
  torch_ms: number | null;
  ratio: number | null;
  /** Achieved GFLOP/s of our run (null for cases that are not FLOP-bound). */
  gflops: number | null;
  peak_gflops: number | null;
  /** Threads both sides used (issue 12); absent where a suite does not set them yet. */
  threads?: number;
  /** Model cases: throughput, average cores busy (CPU time / wall), fastest and slowest timed rep. */
  ours_images_per_s?: number;
  torch_images_per_s?: number | null;
  /** Token models (RAR): ids trained on or generated per second. */
  ours_tokens_per_s?: number;
  torch_tokens_per_s?: number | null;
  ours_cores?: number;
  torch_cores?: number | null;
  ours_range_ms?: [number, number];
  /** Timed calls behind ours_ms (suites with a time floor run fast cases more than --reps times). */
  ours_reps?: number;
  torch_range_ms?: [number, number] | null;
  /** CLI cases: `node -e 0` timed in the same run; their ratio is ours_ms / node_ms (bench/cli.suite.ts). */
  node_ms?: number;
  /** Model cases with a parity check: max |ours − PyTorch| over the same outputs of the same inputs and weights, and max |PyTorch| for scale. */
  parity?: { max_abs_diff: number; max_abs: number };
  /** 1-minute load average when the case started: the machine is shared, this says how quiet it was. */
  load1?: number;
  /**
   * Set on cases that time a path our models do not run, kept to show what the models' path gains over it
   * (a TensorFlow kernel we route around, the textbook block in plain tf ops); says what runs instead.
   */
  reference?: string;
  note?: string;
  /** With --rounds N > 1: every round's figures; ours_ms, torch_ms and ratio are those of the median-ratio round. */
  rounds?: CaseRound[];
}

/** One round of a case: both sides timed once, back to back (bench/suite-entries.ts inRounds). */
export interface CaseRound {
  ours_ms: number;
  torch_ms: number | null;
  ratio: number | null;
}

export interface BenchContext {
  backend: BackendInfo;
  torch: TorchRef | null;
  quick: boolean;
  reps: number;
  /** --rounds: how many times each case runs both sides, back to back (the median-ratio round is reported). */
  rounds: number;
  /** --profile: log a per-kernel-type breakdown of one of our steps per case (where supported). */
  profile: boolean;
  log: (line: string) => void;
  /** Filled by suites that measure it (the compute suite does); others may read it. */
  peakGflops: number | null;
}

export interface BenchSuite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchCase[]>;
}

/** Median wall time of `fn` in ms over `reps` runs after `warmup` runs. `fn` must wait for its result. */
export async function medianMs(fn: () => unknown, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

export async function discoverSuites(dir = __dirname): Promise<BenchSuite[]> {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.suite.ts'))
    .sort();
  const suites: BenchSuite[] = [];
  for (const f of files) {
    const mod = (await import(path.join(dir, f))) as { suite?: BenchSuite };
    if (!mod.suite) throw new Error(`${f} does not export \`suite\``);
    suites.push(mod.suite);
  }
  return suites;
}

interface Args {
  json: boolean;
  backend?: string;
  suites?: string[];
  quick: boolean;
  reps?: number;
  rounds?: number;
  installTorch: boolean;
  profile: boolean;
}

function positiveInt(flag: string, v: string): number {
  const n = Number(v);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`${flag} needs a positive integer, got "${v}"`);
  return n;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { json: false, quick: false, installTorch: false, profile: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') args.json = true;
    else if (a === '--quick') args.quick = true;
    else if (a === '--profile') args.profile = true;
    else if (a === '--install-torch') args.installTorch = true;
    else if (a === '--backend') args.backend = next();
    else if (a === '--suite') args.suites = next().split(',');
    else if (a === '--reps') args.reps = positiveInt(a, next());
    else if (a === '--rounds') args.rounds = positiveInt(a, next());
    else if (a !== '--') throw new Error(`unknown argument ${a}`);
  }
  return args;
}

/** The table's rounds column: the lowest and highest ratio over the case's rounds (— for a single round). */
function roundsRange(c: BenchCase): string {
  const ratios = (c.rounds ?? []).flatMap((r) => (r.ratio === null ? [] : [r.ratio]));
  if (ratios.length < 2) return '—';
  return `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
}

function fmt(x: number | null, digits = 1): string {
  return x === null ? '—' : x.toFixed(digits);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (l: string) => console.error(l);
  const backend = await initBackend({ backend: args.backend, log });
  const found = findTorch({ install: args.installTorch, log });
  const torch = 'error' in found ? null : found;
  log(
    torch
      ? `pytorch reference: torch ${torch.version} via ${torch.python} (${torch.source}); OpenBLAS core ${torch.openblas?.used ?? 'unknown'}${torch.openblas?.override ? ` (set OPENBLAS_CORETYPE: it detected ${torch.openblas.detected}, a generic fallback)` : ''}`
      : `pytorch reference: none (${'error' in found ? found.error : ''})`,
  );
  const ctx: BenchContext = {
    backend,
    torch,
    quick: args.quick,
    reps: args.reps ?? (args.quick ? 3 : 5),
    rounds: args.rounds ?? 1,
    profile: args.profile,
    log,
    peakGflops: null,
  };
  const suites = (await discoverSuites()).filter((s) => !args.suites || args.suites.includes(s.name));
  const cases: BenchCase[] = [];
  for (const s of suites) {
    log(`suite ${s.name}: ${s.description}`);
    cases.push(...(await s.run(ctx)));
  }
  log(
    `\n${'case'.padEnd(52)} ${'thr'.padStart(3)} ${'ours ms'.padStart(9)} ${'torch ms'.padStart(9)} ${'ratio'.padStart(7)} ${'rounds'.padStart(11)} ${'GFLOP/s'.padStart(8)} ${'peak'.padStart(6)}`,
  );
  for (const c of cases) {
    log(
      `${`${c.suite}/${c.name}`.padEnd(52)} ${(c.threads === undefined ? '—' : String(c.threads)).padStart(3)} ${fmt(c.ours_ms).padStart(9)} ${fmt(c.torch_ms).padStart(9)} ${fmt(c.ratio, 2).padStart(7)} ${roundsRange(c).padStart(11)} ${fmt(c.gflops).padStart(8)} ${fmt(c.peak_gflops, 0).padStart(6)}${c.reference ? '  reference' : ''}`,
    );
  }
  if (args.json) {
    const torchInfo = torch ? { version: torch.version, python: torch.python, source: torch.source, openblas: torch.openblas ?? null } : null;
    console.log(JSON.stringify({ backend: backend.backend, backendInfo: backend, torch: torchInfo, peak_gflops: ctx.peakGflops, cases }, null, 2));
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
