/**
 * RAR suite (issue 9 acceptance): the generator's training step and sampling throughput with and
 * without the KV cache, ours against a PyTorch port of the same model (bench/torch/rar_port.py, checked
 * against the upstream parity fixture by running it directly), at all cores and at one thread.
 *
 * As in the tokenizer suite, each side runs in its own child process per case and thread count
 * (bench/threads.ts), the two sides of a case back to back with alternating order. Throughput is
 * reported per token (train: target ids per second; sampling: generated ids per second) and, for
 * sampling, per image.
 */
import os from 'node:os';
import { formatProfile } from './profile';
import type { OursRarResult } from './rar-ours';
import { rarCases, tokensPerRun } from './rar-cases';
import type { BenchCase, BenchContext, BenchSuite } from './run';
import { alternatingSides, comparedCase, inRounds, threadSettings, type OursOutput, type TorchOutput } from './suite-entries';
import { runOursInChild, runTorchAtThreads } from './threads';

function run(ctx: BenchContext): Promise<BenchCase[]> {
  const settings = threadSettings(ctx);
  const out: BenchCase[] = [];
  const bothSides = alternatingSides();
  for (const threads of settings) {
    // train cases also as `(graph)`: each step under withDeferredExecution (compute/deferred-execution.ts), with
    // PyTorch timed again next to it; its warm-up covers learning the step and building its graphs
    const graphCases =
      ctx.backend.backend === 'tensorflow'
        ? rarCases(ctx.quick)
            .filter((c) => c.kind === 'train')
            .map((c) => ({ ...c, exec: 'graph' as const, name: `${c.name} (graph)` }))
        : [];
    for (const c of [...rarCases(ctx.quick), ...graphCases]) {
      const reps = c.kind === 'train' ? ctx.reps : Math.min(ctx.reps, 3);
      const input = { cases: [c], reps, warmup: c.exec === 'graph' ? 4 : 1, profile: ctx.profile };
      const load1 = os.loadavg()[0] as number;
      const oursSide = () => runOursInChild<OursOutput<OursRarResult>>('rar-ours.ts', input, threads, ctx.backend.backend).results[c.name] as OursRarResult;
      const torchSide = () =>
        ctx.torch ? (runTorchAtThreads<TorchOutput>(ctx.torch.python, 'torch/rar_bench.py', input, threads).results[c.name] ?? null) : null;
      const { ours, torch, rounds } = inRounds(ctx.rounds, bothSides, oursSide, torchSide);
      const tokPerS = (ms: number) => (tokensPerRun(c) * 1000) / ms;
      // sampling cases also count images (each generates batch images); a train step's tokens are its rate
      const perRun = { ...(c.kind !== 'train' ? { images: c.size.batch } : {}), tokens: tokensPerRun(c) };
      out.push({
        ...comparedCase({ suite: 'rar', name: c.name, threads }, ours, torch, perRun, ctx, load1, rounds),
        ...(ours.leaked !== 0 ? { note: `our run leaves ${ours.leaked} tensors per ${reps} runs` } : {}),
        ...(c.reference ? { reference: c.reference } : {}),
      });
      ctx.log(
        `  ${c.name} @${threads}t (load ${load1.toFixed(1)}): ours ${ours.median_ms.toFixed(1)} ms (${Math.round(tokPerS(ours.median_ms))} tok/s, ${ours.cores.toFixed(2)} cores)` +
          (torch
            ? `, torch ${torch.median_ms.toFixed(1)} ms (${Math.round(tokPerS(torch.median_ms))} tok/s, ${torch.cores.toFixed(2)} cores), ×${(ours.median_ms / torch.median_ms).toFixed(2)}`
            : ''),
      );
      if (ours.profile) for (const line of formatProfile(ours.profile)) ctx.log(line);
    }
  }
  return Promise.resolve(out);
}

export const suite: BenchSuite = {
  name: 'rar',
  description: 'RAR generator train step and CFG sampling with/without KV cache vs a PyTorch port, all cores and 1 thread',
  run,
};
