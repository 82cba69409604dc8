/**
 * Our side of the compute suite, run as a child process by bench/compute.suite.ts so its TensorFlow
 * thread pools are set from the environment (bench/threads.ts).
 *
 * stdin:  {cases: CaseSpec[], reps, minMs}
 * stdout: last line {backend, results: {name: StepTiming}}
 */
import { readFileSync } from 'node:fs';
import { initBackend } from '../compute/backend';
import { oursComputeCase, type CaseSpec } from './compute-cases';
import { timeSteps, type StepTiming } from './threads';

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, 'utf8')) as { cases: CaseSpec[]; reps: number; minMs?: number };
  const backend = await initBackend({ log: null });
  const results: Record<string, StepTiming> = {};
  for (const c of input.cases) {
    const o = oursComputeCase(c);
    try {
      // a graph-run step learns its ops on the first call and builds its graph on the second
      const warmup = c.kind === 'block_train' && c.exec === 'graph' ? 3 : 1;
      results[c.name] = timeSteps(o.run, input.reps, warmup, input.minMs ?? 0);
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
