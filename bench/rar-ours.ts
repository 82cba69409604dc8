/**
 * Our side of the RAR bench, run as a child process by bench/rar.suite.ts so its TensorFlow thread pools
 * are set from the environment (bench/threads.ts).
 *
 * stdin:  {cases: RarCaseSpec[], reps, warmup, profile?}
 * stdout: last line {backend, results: {name: StepTiming & {leaked, profile?}}}
 *
 * profile: eager kernels of one more run by type (bench/profile.ts). KV-cache sampling on the native
 * backend runs its decode steps as one graph call each (models/rar-decoder-graph.ts), whose kernels
 * tf.profile does not see: its profile shows only what runs outside the graph.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { initBackend } from '../compute/backend';
import { profileByOp, type OpProfile } from './profile';
import { oursRarCase, type RarCaseSpec } from './rar-cases';
import type { StepTiming } from './threads';

interface Input {
  cases: RarCaseSpec[];
  reps: number;
  warmup: number;
  profile?: boolean;
}

export type OursRarResult = StepTiming & { leaked: number; profile?: { kernels: number; ops: OpProfile[] } };

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
      if (input.profile) {
        const p = await profileByOp(o.run); // tf.profile awaits the run's promise
        results[c.name] = { ...t, leaked: tf.memory().numTensors - before, profile: { kernels: p.kernels, ops: p.ops.slice(0, 20) } };
      }
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
