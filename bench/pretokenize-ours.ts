/**
 * Our side of the pretokenize bench, run as a child process by bench/pretokenize.suite.ts so its
 * TensorFlow thread pools are set from the environment (bench/threads.ts). Each timed rep is one whole
 * `tokenizer.pretokenize` stage run (stages/tokenizer-pretokenize.ts) over the case's ImageFolder:
 * artifact load, decode, crops, encode, shard and manifest writing.
 *
 * stdin:  PretokenizeBenchInput (bench/pretokenize-cases.ts)
 * stdout: last line {backend, results: {name: OursPretokenizeResult}}
 * and the shard of the last run in `<case.out>/ours.jsonl`.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../compute/backend';
import { shardName } from '../data/token-shards';
import type { StageContext } from '../stages/stage';
import { tokenizerPretokenizeStage } from '../stages/tokenizer-pretokenize';
import { tokenizerPretokenizeConfigSchema, type TokenizerPretokenizeConfig } from '../stages/tokenizer-pretokenize-config';
import type { PretokenizeBenchInput, PretokenizeCaseRun } from './pretokenize-cases';
import type { StepTiming } from './threads';

/**
 * Timing of the stage's image loop (its own `images_per_second` metric: decode, crops, encode, shard
 * writing), which is the throughput; `startup_ms` is the rest of a run (median): artifact load (the
 * model is built with random weights first, then overwritten), folder listing, manifest. `cores` is
 * over whole runs: the stage does not expose the loop's CPU time.
 */
export type OursPretokenizeResult = StepTiming & { startup_ms: number; leaked: number };

/** A StageContext without a store: no checkpoints (a bench run never resumes), logs dropped. */
function benchContext(c: PretokenizeCaseRun, workdir: string): StageContext<TokenizerPretokenizeConfig> {
  return {
    config: tokenizerPretokenizeConfigSchema.parse({ batchSize: c.batchSize }),
    inputs: { tokenizer: c.tokenizer, dataset: c.dataset },
    workdir,
    seed: 0,
    attempt: 1,
    checkpointEvery: 0,
    log: { info: () => undefined, warn: (m) => console.error(m) },
    progress: () => undefined,
    checkpoints: { latest: () => Promise.resolve(undefined), save: () => Promise.resolve() },
    signal: new AbortController().signal,
  };
}

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, 'utf8')) as PretokenizeBenchInput;
  const backend = await initBackend({ log: null });
  const results: Record<string, OursPretokenizeResult> = {};
  for (const c of input.cases) {
    const once = async (): Promise<{ whole: number; loop: number }> => {
      const workdir = await mkdtemp(path.join(os.tmpdir(), 'bench-pretok-'));
      try {
        const t0 = performance.now();
        const r = await tokenizerPretokenizeStage.run(benchContext(c, workdir));
        const whole = performance.now() - t0;
        const rate = Number(r.metrics?.images_per_second);
        if (!(rate > 0)) throw new Error(`pretokenize stage reported images_per_second ${JSON.stringify(r.metrics?.images_per_second)}`);
        await copyFile(path.join(r.outputs.tokens as string, shardName(0)), path.join(c.out, 'ours.jsonl'));
        return { whole, loop: (c.images * 1000) / rate };
      } finally {
        await rm(workdir, { recursive: true, force: true });
      }
    };
    for (let i = 0; i < input.warmup; i++) await once();
    const before = tf.memory().numTensors;
    const runs: { whole: number; loop: number }[] = [];
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < input.reps; i++) runs.push(await once());
    const cpu = process.cpuUsage(cpu0);
    const loops = runs.map((r) => r.loop).sort((a, b) => a - b);
    const startups = runs.map((r) => r.whole - r.loop).sort((a, b) => a - b);
    const mid = Math.floor(runs.length / 2);
    results[c.name] = {
      median_ms: loops[mid] as number,
      min_ms: loops[0] as number,
      max_ms: loops[loops.length - 1] as number,
      reps: input.reps,
      cores: (cpu.user + cpu.system) / 1000 / runs.reduce((a, r) => a + r.whole, 0),
      startup_ms: startups[mid] as number,
      leaked: tf.memory().numTensors - before,
    };
  }
  console.log(JSON.stringify({ backend: backend.backend, results }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
