/**
 * Eager against deferred (graph) execution of one train step, interleaved in one process so load changes
 * on a shared machine hit both alike (compute/deferred-execution.ts). Wall and process CPU ms per step,
 * medians, plus the time spent inside graph session calls.
 *
 *   TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 npx tsx bench/deferred-ab.ts tokenizer|rar smoke|mid [reps]
 *
 * Thread counts and TF_ENABLE_ONEDNN_OPTS / TF_XLA_FLAGS come from the environment (read once when
 * TensorFlow starts), so compare those across runs, not within one.
 */
import os from 'node:os';
import { initBackend } from '../compute/backend';
import { deferredStats } from '../compute/deferred-execution';
import { oursRarCase, rarCases } from './rar-cases';
import { oursTokenizerCase, tokenizerCases } from './tokenizer-cases';

type Exec = 'eager' | 'graph';

function caseOf(model: string, size: string): (exec: Exec) => { run: () => unknown; dispose: () => void } {
  if (model === 'rar') {
    const c = rarCases(false).find((x) => x.kind === 'train' && x.name.includes(size));
    if (!c) throw new Error(`no RAR train case "${size}"`);
    return (exec) => oursRarCase({ ...c, exec });
  }
  const c = tokenizerCases().find((x) => x.kind === 'train' && x.name.includes(size));
  if (!c) throw new Error(`no tokenizer train case "${size}"`);
  return (exec) => oursTokenizerCase({ ...c, exec });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] as number;

async function main(): Promise<void> {
  const [model = 'tokenizer', size = 'smoke', repsArg = '8'] = process.argv.slice(2);
  const reps = Number(repsArg);
  await initBackend({ log: null });
  const make = caseOf(model, size);
  const sides = { eager: make('eager'), graph: make('graph') };
  // four steps each: the graph side learns the first step, the second (whose optimizer moments now
  // exist), then builds its graphs
  for (let i = 0; i < 4; i++) for (const s of Object.values(sides)) await s.run();
  const wall: Record<Exec, number[]> = { eager: [], graph: [] };
  const cpu: Record<Exec, number[]> = { eager: [], graph: [] };
  const session0 = deferredStats()?.graphMs ?? 0;
  for (let i = 0; i < reps; i++) {
    for (const exec of ['eager', 'graph'] as const) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await sides[exec].run();
      wall[exec].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[exec].push((c.user + c.system) / 1000);
    }
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      model,
      size,
      reps,
      threads: process.env.TF_NUM_INTRAOP_THREADS ?? null,
      onednn: process.env.TF_ENABLE_ONEDNN_OPTS ?? null,
      xla: process.env.TF_XLA_FLAGS ?? null,
      load1: os.loadavg()[0],
      eager_ms: round(median(wall.eager)),
      eager_cpu_ms: round(median(cpu.eager)),
      graph_ms: round(median(wall.graph)),
      graph_cpu_ms: round(median(cpu.graph)),
      graph_session_ms_per_step: round(((deferredStats()?.graphMs ?? 0) - session0) / reps),
    }),
  );
  for (const s of Object.values(sides)) s.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
