/**
 * Compute suite: the kernels training leans on (bench/compute-cases.ts), ours against PyTorch with both
 * sides at the same thread count — all cores, then one thread (issue 12: like for like). Each side runs
 * in its own process per thread count (bench/threads.ts: TensorFlow's pools are fixed per process); the
 * wasm and cpu backends are single-threaded in Node, so they are compared at one thread only. The
 * machine's ceiling, peak_gflops, is PyTorch's 2048³ matmul on all cores.
 */
import os from 'node:os';
import { caseFlops, computeCases, type CaseSpec } from './compute-cases';
import type { BenchCase, BenchContext, BenchSuite } from './run';
import { alternatingSides, pickMedianRound } from './suite-entries';
import { runOursInChild, runTorchAtThreads, type StepTiming } from './threads';

/**
 * Time floor of a case's timed calls on each side (bench/threads.ts timeSteps): most cases here take
 * 0.5–10 ms, and a median of 5 such calls moved by up to 2× between runs of the suite.
 */
const MIN_MS = 500;
const QUICK_MIN_MS = 150;

interface OursOutput {
  results: Record<string, StepTiming>;
}

interface TorchOutput {
  results: Record<string, number>;
}

function run(ctx: BenchContext): Promise<BenchCase[]> {
  const specs: CaseSpec[] = computeCases(ctx.quick);
  const cores = ctx.backend.cpu.cores;
  const settings = ctx.backend.backend === 'tensorflow' && cores > 1 ? [cores, 1] : [1];
  if (ctx.torch) {
    const peak = runTorchAtThreads<TorchOutput>(
      ctx.torch.python,
      'torch_bench.py',
      { cases: [{ kind: 'matmul', name: 'peak', m: 2048, k: 2048, n: 2048 }], reps: ctx.reps },
      cores,
    ).results.peak;
    if (peak) ctx.peakGflops = (2 * 2048 ** 3) / (peak * 1e6);
  }
  const out: BenchCase[] = [];
  for (const threads of settings) {
    const load1 = os.loadavg()[0] as number;
    ctx.log(`  ${specs.length} cases at ${threads} thread(s) each side (load ${load1.toFixed(1)})…`);
    // one child per side and thread count, all cases in a row
    const timing = { cases: specs, reps: ctx.reps, minMs: ctx.quick ? QUICK_MIN_MS : MIN_MS };
    // --rounds: the two children again, in alternating order; each case reports its median-ratio round
    const bothSides = alternatingSides();
    const runs = Array.from({ length: ctx.rounds }, () =>
      bothSides(
        () => runOursInChild<OursOutput>('compute-ours.ts', timing, threads, ctx.backend.backend).results,
        () => (ctx.torch ? runTorchAtThreads<TorchOutput>(ctx.torch.python, 'torch_bench.py', timing, threads).results : {}),
      ),
    );
    for (const c of specs) {
      const perRound = runs.flatMap((r) => (r.ours[c.name] ? [{ o: r.ours[c.name] as StepTiming, t: r.torch[c.name] ?? null }] : []));
      if (perRound.length === 0) continue;
      const { o, t, rounds } = pickMedianRound(
        perRound,
        (r) => r.o.median_ms,
        (r) => r.t,
      );
      const f = caseFlops(c);
      out.push({
        suite: 'compute',
        name: c.name,
        threads,
        ours_ms: o.median_ms,
        torch_ms: t,
        ratio: t ? o.median_ms / t : null,
        gflops: f === null ? null : f / (o.median_ms * 1e6),
        peak_gflops: ctx.peakGflops,
        ours_cores: o.cores,
        ours_range_ms: [o.min_ms, o.max_ms],
        ours_reps: o.reps,
        load1,
        ...(rounds ? { rounds } : {}),
        ...(c.reference ? { reference: c.reference } : {}),
      });
      const spread = rounds ? `; rounds ${rounds.map((r) => (r.ratio === null ? '—' : `×${r.ratio.toFixed(2)}`)).join(' ')}` : '';
      ctx.log(`  ${c.name} @${threads}t: ${o.median_ms.toFixed(1)} ms${t ? ` (torch ${t.toFixed(1)} ms, ×${(o.median_ms / t).toFixed(2)}${spread})` : ''}`);
    }
  }
  return Promise.resolve(out);
}

export const suite: BenchSuite = {
  name: 'compute',
  description:
    'matmul, conv forward/backward (also the patch conv as our models run it), transformer block training step vs PyTorch, equal threads: all cores and 1',
  run,
};
