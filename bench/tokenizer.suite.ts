/**
 * Tokenizer suite (issue 8 acceptance, issue 12 model cases): the RobusTok tokenizer's training step and
 * encode throughput at a smoke and a mid size (bench/tokenizer-cases.ts), ours against a PyTorch port
 * of the same model (bench/torch/robustok_tokenizer_port.py; `npx tsx bench/tokenizer-port-check.ts`
 * shows it computes what ours does), both at all cores and both at one thread.
 *
 * Each side runs in its own child process per case and thread count (bench/threads.ts: TensorFlow's
 * pools are fixed per process). The two sides of a case run back to back, alternating which goes
 * first, so a load change on the shared machine hits both alike as far as possible. `ours_cores` /
 * `torch_cores` (CPU time / wall time) show what each side actually used.
 */
import os from 'node:os';
import type { StepTiming } from './threads';
import { formatProfile } from './profile';
import { runOursInChild, runTorchAtThreads } from './threads';
import type { OursResult } from './tokenizer-ours';
import { tokenizerCases } from './tokenizer-cases';
import type { BenchCase, BenchContext, BenchSuite } from './run';

interface OursOutput {
  backend: string;
  results: Record<string, OursResult>;
}

interface TorchOutput {
  torch: string;
  threads: number;
  results: Record<string, StepTiming>;
}

function run(ctx: BenchContext): Promise<BenchCase[]> {
  const cores = ctx.backend.cpu.cores;
  // wasm and cpu run single-threaded in Node: only the one-thread comparison is like for like
  const settings = ctx.backend.backend === 'tensorflow' && cores > 1 ? [cores, 1] : [1];
  const reps = ctx.reps;
  const warmup = ctx.quick ? 1 : 2;
  const out: BenchCase[] = [];
  let order = 0;
  for (const threads of settings) {
    // train cases also as `(graph)`: each step under withDeferredExecution (compute/deferred-execution.ts), with
    // PyTorch timed again next to it; its warm-up covers learning the step and building its graphs
    const graphCases =
      ctx.backend.backend === 'tensorflow'
        ? tokenizerCases()
            .filter((c) => c.kind === 'train')
            .map((c) => ({ ...c, exec: 'graph' as const, name: `${c.name} (graph)` }))
        : [];
    for (const c of [...tokenizerCases(), ...graphCases]) {
      const input = { cases: [c], reps, warmup: c.exec === 'graph' ? warmup + 3 : warmup, profile: ctx.profile };
      const load1 = os.loadavg()[0] as number;
      const oursSide = () => runOursInChild<OursOutput>('tokenizer-ours.ts', input, threads, ctx.backend.backend).results[c.name] as OursResult;
      const torchSide = () =>
        ctx.torch ? (runTorchAtThreads<TorchOutput>(ctx.torch.python, 'torch/tokenizer_bench.py', input, threads).results[c.name] ?? null) : null;
      let ours: OursResult;
      let torch: StepTiming | null;
      if (order++ % 2 === 0) {
        ours = oursSide();
        torch = torchSide();
      } else {
        torch = torchSide();
        ours = oursSide();
      }
      const perS = (ms: number) => (c.size.batch * 1000) / ms;
      const t = torch?.median_ms ?? null;
      out.push({
        suite: 'tokenizer',
        name: c.name,
        threads,
        ours_ms: ours.median_ms,
        torch_ms: t,
        ratio: t ? ours.median_ms / t : null,
        gflops: null,
        peak_gflops: ctx.peakGflops,
        ours_images_per_s: perS(ours.median_ms),
        torch_images_per_s: t ? perS(t) : null,
        ours_cores: ours.cores,
        torch_cores: torch?.cores ?? null,
        ours_range_ms: [ours.min_ms, ours.max_ms],
        torch_range_ms: torch ? [torch.min_ms, torch.max_ms] : null,
        load1,
        ...(ours.leaked !== 0 ? { note: `our step leaves ${ours.leaked} tensors per ${reps} steps` } : {}),
      });
      ctx.log(
        `  ${c.name} @${threads}t (load ${load1.toFixed(1)}): ours ${ours.median_ms.toFixed(1)} ms (${ours.cores.toFixed(2)} cores)` +
          (torch ? `, torch ${torch.median_ms.toFixed(1)} ms (${torch.cores.toFixed(2)} cores), ×${(ours.median_ms / torch.median_ms).toFixed(2)}` : ''),
      );
      if (ours.profile) for (const line of formatProfile(ours.profile)) ctx.log(line);
    }
  }
  return Promise.resolve(out);
}

export const suite: BenchSuite = {
  name: 'tokenizer',
  description: 'RobusTok tokenizer train step and encode throughput (smoke, mid) vs a PyTorch port, all cores and 1 thread',
  run,
};
