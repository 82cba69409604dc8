/**
 * Pretokenize suite (issue 12 "pretokenize throughput (images/s)"): one whole `tokenizer.pretokenize`
 * stage run per rep over a generated ImageFolder, on a random-weight tokenizer artifact, against the same
 * steps in PyTorch (bench/torch/pretokenize_bench.py: Pillow + the port), both at all cores and both at
 * one thread (bench/pretokenize-cases.ts says why this is not the tokenizer suite's `encode` case).
 * The time compared is the image loop (decode, ADM crop + mirror, encode, jsonl shard: what grows with
 * the dataset, timed by the stage itself); what a run spends before it (artifact load, folder listing)
 * is in `note`.
 *
 * As in the other model suites each side runs in its own child process per case and thread count
 * (bench/threads.ts), back to back with alternating order. The thread count fixes TensorFlow's,
 * OpenMP's and OpenBLAS's pools; image decoding is not under it on either side (ours decodes with
 * sharp on libuv's pool, up to 8 files at once while the previous batch encodes, as the stage does;
 * Pillow decodes on the calling thread). Both sides write their last run's shard; `note` says how many
 * of the views got identical ids (not all need to: sharp and Pillow decode JPEGs and resample
 * slightly differently, and the ids are nearest-codebook choices).
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeSyntheticDataset } from '../data/synthetic-images';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { saveTokenizerArtifact } from '../models/tokenizer-artifact';
import { parseTokenizerConfig } from '../models/tokenizer-config';
import { Rng } from '../models/training/rng';
import { jpegFolder } from './data.suite';
import { pretokenizeCases, type PretokenizeCaseRun, type PretokenizeCaseSpec } from './pretokenize-cases';
import type { OursPretokenizeResult } from './pretokenize-ours';
import type { BenchCase, BenchContext, BenchSuite } from './run';
import { alternatingSides, comparedCase, inRounds, threadSettings, type OursOutput, type TorchOutput } from './suite-entries';
import { runOursInChild, runTorchAtThreads, type StepTiming } from './threads';

/** Generates the case's ImageFolder (`<dir>/data/train`) and tokenizer artifact (`<dir>/tokenizer`). */
async function prepare(c: PretokenizeCaseSpec, dir: string): Promise<PretokenizeCaseRun> {
  const dataset = path.join(dir, 'data');
  if (c.data === 'png32') {
    await writeSyntheticDataset(dataset, { imageSize: 32, numClasses: 4, trainPerClass: Math.ceil(c.images / 4), valPerClass: 0, seed: 0 });
  } else {
    await jpegFolder(path.join(dataset, 'train'), c.images);
  }
  const tokenizer = path.join(dir, 'tokenizer');
  const config = parseTokenizerConfig(c.size.model);
  const model = new RobustokTokenizer(config, Rng.fromSeed(1));
  try {
    // EMA = the same weights: the stage encodes with the EMA weights by default
    await saveTokenizerArtifact(tokenizer, { config, model: model.stateDict(), ema: model.stateDict() });
  } finally {
    model.dispose();
  }
  const out = path.join(dir, 'out');
  await mkdir(out, { recursive: true });
  return { ...c, tokenizer, dataset, out };
}

/** Views whose ids are identical in the two shards (same line order: image folder order, crop then mirror). */
export function sameIds(ours: string, torch: string): { equal: number; total: number } {
  const a = ours.trim().split('\n');
  const b = torch.trim().split('\n');
  if (a.length !== b.length) return { equal: 0, total: Math.max(a.length, b.length) };
  let equal = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) equal++;
  return { equal, total: a.length };
}

async function run(ctx: BenchContext): Promise<BenchCase[]> {
  const settings = threadSettings(ctx);
  const root = await mkdtemp(path.join(os.tmpdir(), 'bench-pretokenize-'));
  try {
    const prepared: PretokenizeCaseRun[] = [];
    for (const [i, c] of pretokenizeCases(ctx.quick).entries()) prepared.push(await prepare(c, path.join(root, String(i))));
    const reps = ctx.quick ? 2 : ctx.reps;
    const out: BenchCase[] = [];
    const bothSides = alternatingSides();
    for (const threads of settings) {
      for (const c of prepared) {
        const input = { cases: [c], reps, warmup: 1 };
        const load1 = os.loadavg()[0] as number;
        const oursSide = () =>
          runOursInChild<OursOutput<OursPretokenizeResult>>('pretokenize-ours.ts', input, threads, ctx.backend.backend).results[
            c.name
          ] as OursPretokenizeResult;
        const torchSide = () =>
          ctx.torch
            ? (runTorchAtThreads<TorchOutput<StepTiming & { startup_ms: number }>>(ctx.torch.python, 'torch/pretokenize_bench.py', input, threads).results[
                c.name
              ] ?? null)
            : null;
        const { ours, torch, rounds } = inRounds(ctx.rounds, bothSides, oursSide, torchSide);
        const ids = torch ? sameIds(await readFile(path.join(c.out, 'ours.jsonl'), 'utf8'), await readFile(path.join(c.out, 'torch.jsonl'), 'utf8')) : null;
        const perS = (ms: number) => (c.images * 1000) / ms;
        const notes = [
          `per run before the image loop (model load, folder listing): ours ${ours.startup_ms.toFixed(0)} ms${torch ? `, torch ${torch.startup_ms.toFixed(0)} ms` : ''}`,
          ...(ours.leaked !== 0 ? [`our runs leave ${ours.leaked} tensors per ${reps} runs`] : []),
          ...(ids ? [`${ids.equal}/${ids.total} views got identical ids on both sides`] : []),
        ];
        out.push({
          ...comparedCase({ suite: 'pretokenize', name: c.name, threads }, ours, torch, { images: c.images }, ctx, load1, rounds),
          note: notes.join('; '),
        });
        ctx.log(
          `  ${c.name} @${threads}t (load ${load1.toFixed(1)}): ours ${ours.median_ms.toFixed(0)} ms (${perS(ours.median_ms).toFixed(1)} img/s, ${ours.cores.toFixed(2)} cores)` +
            (torch
              ? `, torch ${torch.median_ms.toFixed(0)} ms (${perS(torch.median_ms).toFixed(1)} img/s, ${torch.cores.toFixed(2)} cores), ×${(ours.median_ms / torch.median_ms).toFixed(2)}`
              : '') +
            (ids ? `; identical ids ${ids.equal}/${ids.total}` : ''),
        );
      }
    }
    return out;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

export const suite: BenchSuite = {
  name: 'pretokenize',
  description:
    'tokenizer.pretokenize stage runs (decode, ADM crop + mirror, encode, shard) images/s vs the same steps in Pillow + a PyTorch port, all cores and 1 thread',
  run,
};
