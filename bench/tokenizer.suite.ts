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
import { formatProfile } from './profile';
import { alternatingSides, comparedCase, inRounds, threadSettings, type OursOutput, type TorchOutput } from './suite-entries';
import { runOursInChild, runTorchAtThreads } from './threads';
import type { OursResult } from './tokenizer-ours';
import { tokenizerCases } from './tokenizer-cases';
import type { BenchCase, BenchContext, BenchSuite } from './run';

function run(ctx: BenchContext): Promise<BenchCase[]> {
  const settings = threadSettings(ctx);
  const reps = ctx.reps;
  const warmup = ctx.quick ? 1 : 2;
  const out: BenchCase[] = [];
  const bothSides = alternatingSides();
  for (const threads of settings) {
    // every case also as `(graph)`, as the stages run it (tokenizer.train/posttrain each step, tokenizer.pretokenize
    // each batch): under withDeferredExecution (compute/deferred-execution.ts), with PyTorch timed again next to
    // it; its warm-up covers learning the step and building its graphs
    const graphCases = ctx.backend.backend === 'tensorflow' ? tokenizerCases().map((c) => ({ ...c, exec: 'graph' as const, name: `${c.name} (graph)` })) : [];
    for (const c of [...tokenizerCases(), ...graphCases]) {
      const input = { cases: [c], reps, warmup: c.exec === 'graph' ? warmup + 3 : warmup, profile: ctx.profile };
      const load1 = os.loadavg()[0] as number;
      const oursSide = () => runOursInChild<OursOutput<OursResult>>('tokenizer-ours.ts', input, threads, ctx.backend.backend).results[c.name] as OursResult;
      const torchSide = () =>
        ctx.torch ? (runTorchAtThreads<TorchOutput>(ctx.torch.python, 'torch/tokenizer_bench.py', input, threads).results[c.name] ?? null) : null;
      const { ours, torch, rounds } = inRounds(ctx.rounds, bothSides, oursSide, torchSide);
      out.push({
        ...comparedCase({ suite: 'tokenizer', name: c.name, threads }, ours, torch, { images: c.size.batch }, ctx, load1, rounds),
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
