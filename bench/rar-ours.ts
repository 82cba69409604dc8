/**
 * Our side of the RAR bench, run as a child process by bench/rar.suite.ts so its TensorFlow thread pools
 * are set from the environment (bench/threads.ts).
 *
 * stdin:  {cases: RarCaseSpec[], reps, warmup}
 * stdout: last line {backend, results: {name: StepTiming & {leaked}}}
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { initBackend } from '../compute/backend';
import { oursRarCase, type RarCaseSpec } from './rar-cases';
import type { StepTiming } from './threads';

interface Input {
  cases: RarCaseSpec[];
  reps: number;
  warmup: number;
}

export type OursRarResult = StepTiming & { leaked: number };

/** bench/threads.ts timeSteps for a step that returns a promise (sampling reads logits asynchronously). */
async function timeAsync(fn: () => Promise<void>, reps: number, warmup: number): Promise<StepTiming> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  const wall = performance.now() - wall0;
  const cpu = process.cpuUsage(cpu0);
  times.sort((a, b) => a - b);
  return {
    median_ms: times[Math.floor(times.length / 2)] as number,
    min_ms: times[0] as number,
    max_ms: times[times.length - 1] as number,
    reps,
    cores: (cpu.user + cpu.system) / 1000 / wall,
  };
}

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, 'utf8')) as Input;
  const backend = await initBackend({ log: null });
  const results: Record<string, OursRarResult> = {};
  for (const c of input.cases) {
    const o = oursRarCase(c);
    try {
      await timeAsync(o.run, 0, input.warmup); // also creates the optimizer's moments
      const before = tf.memory().numTensors;
      const t = await timeAsync(o.run, input.reps, 0);
      results[c.name] = { ...t, leaked: tf.memory().numTensors - before };
    } finally {
      o.dispose();
    }
  }
  console.log(JSON.stringify({ backend: backend.backend, results }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
