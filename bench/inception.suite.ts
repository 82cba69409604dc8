/**
 * Inception suite (issue 12 "Inception features (images/s)"): FID Inception-v3 pool_3 feature extraction
 * (bench/inception-cases.ts: one eval.fid batch of 256 px images, resize to 299, network, features
 * read back) against the same network in PyTorch (bench/fid_torch_inception.py) on the same random
 * weights, both at all cores and both at one thread.
 *
 * As in the tokenizer and RAR suites, each side runs in its own child process per thread count
 * (bench/threads.ts), the two sides back to back with alternating order. Each child also computes the
 * pool_3 features of the same 299×299 images; `parity` records max |ours − PyTorch| over them (and
 * max |PyTorch| for scale), so a fast but wrong network cannot pass as a speed-up.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeSafetensors } from '../compute/safetensors';
import { encodeNpy, readNpyFile } from '../data/npy';
import { randomInceptionTensors } from '../models/inception';
import { weightEntries } from '../models/inception-weights';
import { inceptionCases, INCEPTION_WEIGHTS_SEED, PARITY_IMAGES, parityPixels, type InceptionBenchFiles, type InceptionBenchInput } from './inception-cases';
import type { OursInceptionResult } from './inception-ours';
import type { BenchCase, BenchContext, BenchSuite } from './run';
import { alternatingSides, comparedCase, inRounds, threadSettings, type OursOutput, type TorchOutput } from './suite-entries';
import { runOursInChild, runTorchAtThreads } from './threads';

/** max |a − b| and max |b| over two equally long feature arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max_abs_diff: number; max_abs: number } {
  if (a.length !== b.length) throw new Error(`parity: ${a.length} features against ${b.length}`);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs((a[i] as number) - (b[i] as number)));
    maxAbs = Math.max(maxAbs, Math.abs(b[i] as number));
  }
  return { max_abs_diff: maxDiff, max_abs: maxAbs };
}

async function run(ctx: BenchContext): Promise<BenchCase[]> {
  const settings = threadSettings(ctx);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-inception-'));
  try {
    const files: InceptionBenchFiles = {
      weights: path.join(dir, 'random-inception.safetensors'),
      parityImages: path.join(dir, 'parity-images.npy'),
      parityOut: '', // per side, below
    };
    await writeSafetensors(files.weights, weightEntries(randomInceptionTensors(INCEPTION_WEIGHTS_SEED)));
    await writeFile(files.parityImages, encodeNpy(parityPixels(PARITY_IMAGES), [PARITY_IMAGES, 299, 299, 3]));
    const reps = ctx.quick ? 2 : ctx.reps;
    const out: BenchCase[] = [];
    const bothSides = alternatingSides();
    for (const threads of settings) {
      for (const c of inceptionCases(ctx.quick)) {
        const input = (side: string): InceptionBenchInput => ({
          cases: [c],
          reps,
          warmup: 1,
          files: { ...files, parityOut: path.join(dir, `pool-${side}-${threads}.npy`) },
        });
        const load1 = os.loadavg()[0] as number;
        const oursSide = () =>
          runOursInChild<OursOutput<OursInceptionResult>>('inception-ours.ts', input('ours'), threads, ctx.backend.backend).results[
            c.name
          ] as OursInceptionResult;
        const torchSide = () =>
          ctx.torch ? (runTorchAtThreads<TorchOutput>(ctx.torch.python, 'fid_torch_inception.py', input('torch'), threads).results[c.name] ?? null) : null;
        const { ours, torch, rounds } = inRounds(ctx.rounds, bothSides, oursSide, torchSide);
        const parity = torch
          ? maxAbsDiff((await readNpyFile(input('ours').files.parityOut)).data, (await readNpyFile(input('torch').files.parityOut)).data)
          : null;
        const perS = (ms: number) => (c.batch * 1000) / ms;
        const notes = [
          ...(ours.leaked !== 0 ? [`our extraction leaves ${ours.leaked} tensors per ${reps} batches`] : []),
          ...(parity
            ? [
                `pool_3 parity on ${PARITY_IMAGES} images at 299 px: max |ours − torch| ${parity.max_abs_diff.toExponential(2)} (max |torch| ${parity.max_abs.toFixed(2)})`,
              ]
            : []),
        ];
        out.push({
          ...comparedCase({ suite: 'inception', name: c.name, threads }, ours, torch, { images: c.batch }, ctx, load1, rounds),
          ...(parity ? { parity } : {}),
          ...(notes.length > 0 ? { note: notes.join('; ') } : {}),
        });
        ctx.log(
          `  ${c.name} @${threads}t (load ${load1.toFixed(1)}): ours ${ours.median_ms.toFixed(0)} ms (${perS(ours.median_ms).toFixed(1)} img/s, ${ours.cores.toFixed(2)} cores)` +
            (torch
              ? `, torch ${torch.median_ms.toFixed(0)} ms (${perS(torch.median_ms).toFixed(1)} img/s, ${torch.cores.toFixed(2)} cores), ×${(ours.median_ms / torch.median_ms).toFixed(2)}`
              : '') +
            (parity ? `; pool_3 max |Δ| ${parity.max_abs_diff.toExponential(2)}` : ''),
        );
      }
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = {
  name: 'inception',
  description: 'FID Inception-v3 pool_3 features (images/s) vs the same network and weights in PyTorch, all cores and 1 thread, with a parity check',
  run,
};
