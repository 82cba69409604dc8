/**
 * Our op library (compute/native-ops.ts) on against off for one train step, interleaved in one process
 * so load changes on a shared machine hit both sides alike: wall and process CPU ms per step, medians.
 * Both sides run the step under the same executor (graph by default, `eager` as the 4th argument).
 *
 *   ROBUSTOK_THREADS=1 npx tsx bench/native-ops-ab.ts tokenizer|rar smoke|mid [reps] [graph|eager]
 */
import os from 'node:os';
import { backendInfo, initBackend } from '../compute/backend';
import { setNativeOps } from '../compute/native-ops';
import { oursRarCase, rarCases } from './rar-cases';
import { oursTokenizerCase, tokenizerCases } from './tokenizer-cases';

type Exec = 'eager' | 'graph';

function makeCase(model: string, size: string, exec: Exec): { run: () => unknown; dispose: () => void } {
  if (model === 'rar') {
    const c = rarCases(false).find((x) => x.kind === 'train' && x.name.includes(size));
    if (!c) throw new Error(`no RAR train case "${size}"`);
    return oursRarCase({ ...c, exec });
  }
  const c = tokenizerCases().find((x) => x.kind === 'train' && x.name.includes(size));
  if (!c) throw new Error(`no tokenizer train case "${size}"`);
  return oursTokenizerCase({ ...c, exec });
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] as number;

async function main(): Promise<void> {
  const [model = 'tokenizer', size = 'smoke', repsArg = '8', execArg = 'graph'] = process.argv.slice(2);
  const reps = Number(repsArg);
  const exec = execArg === 'eager' ? 'eager' : 'graph';
  await initBackend({ log: null });
  const info = backendInfo();
  if (info.nativeOps !== 'avx2' && info.nativeOps !== 'avx') throw new Error(`op library not loaded: ${info.nativeOps ?? info.backend}`);
  const sides = { off: makeCase(model, size, exec), on: makeCase(model, size, exec) };
  const run = async (side: 'off' | 'on') => {
    setNativeOps(side === 'on');
    try {
      await sides[side].run();
    } finally {
      setNativeOps(undefined);
    }
  };
  // four steps each: the executor learns both op sequences and builds their graphs
  for (let i = 0; i < 4; i++) for (const side of ['off', 'on'] as const) await run(side);
  const wall = { off: [] as number[], on: [] as number[] };
  const cpu = { off: [] as number[], on: [] as number[] };
  for (let i = 0; i < reps; i++) {
    for (const side of ['off', 'on'] as const) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await run(side);
      wall[side].push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu[side].push((c.user + c.system) / 1000);
    }
  }
  const round = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      model,
      size,
      exec,
      reps,
      threads: info.intraOpThreads ?? null,
      ops: info.nativeOps,
      load1: os.loadavg()[0],
      off_ms: round(median(wall.off)),
      off_cpu_ms: round(median(cpu.off)),
      on_ms: round(median(wall.on)),
      on_cpu_ms: round(median(cpu.on)),
    }),
  );
  for (const s of Object.values(sides)) s.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
