/**
 * Our side of the tokenizer bench, run as a child process by bench/tokenizer.suite.ts so its TensorFlow
 * thread pools are set from the environment (see bench/threads.ts).
 *
 * stdin:  {cases: TokenizerCaseSpec[], reps, warmup, profile?}
 * stdout: last line {backend, env: {TF_NUM_INTRAOP_THREADS, …}, results: {name: StepTiming & {leaked, profile?}}}
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { initBackend } from '../compute/backend';
import { oursTokenizerCase, type TokenizerCaseSpec } from './tokenizer-cases';
import { profileByOp, type OpProfile } from './profile';
import { threadEnv, timeSteps, type StepTiming } from './threads';

interface Input {
  cases: TokenizerCaseSpec[];
  reps: number;
  warmup: number;
  profile?: boolean;
}

export type OursResult = StepTiming & { leaked: number; profile?: { kernels: number; ops: OpProfile[] } };

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, 'utf8')) as Input;
  const backend = await initBackend({ log: null });
  const results: Record<string, OursResult> = {};
  for (const c of input.cases) {
    const o = oursTokenizerCase(c);
    try {
      for (let i = 0; i < input.warmup; i++) o.run(); // also creates the optimizer's moments
      const before = tf.memory().numTensors;
      const t = timeSteps(o.run, input.reps, 0);
      results[c.name] = { ...t, leaked: tf.memory().numTensors - before }; // tensors the timed steps left behind
      if (input.profile) {
        const p = await profileByOp(o.run);
        results[c.name] = { ...t, leaked: tf.memory().numTensors - before, profile: { kernels: p.kernels, ops: p.ops.slice(0, 20) } };
      }
    } finally {
      o.dispose();
    }
  }
  const env = Object.fromEntries(Object.keys(threadEnv(1)).map((k) => [k, process.env[k] ?? null]));
  console.log(JSON.stringify({ backend: backend.backend, env, results }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
