/**
 * Our op library (compute/native-ops.ts) on against off for one train step, interleaved in one process
 * so load changes on a shared machine hit both sides alike: wall and process CPU ms per step, medians.
 * Both sides run the step under the same executor (graph by default, `eager` as the 4th argument).
 *
 *   ROBUSTOK_THREADS=1 npx tsx bench/native-ops-ab.ts tokenizer|rar smoke|mid [reps] [graph|eager] [all|matmul-bias|residual-branch]
 *
 * `matmul-bias` switches only the Linear layers' one-kernel x·wᵀ + b (models/layers/linear.ts),
 * `residual-branch` only the blocks' one-kernel x + (a·γ)·s (models/layers/residual-branch.ts), the rest
 * of the library staying on.
 */
import os from 'node:os';
import { backendInfo, initBackend } from '../compute/backend';
import { setNativeOps } from '../compute/native-ops';
import { setMatMulBias } from '../models/layers/linear';
import { setResidualBranch } from '../models/layers/residual-branch';
import { abRounds, type AbSide } from './ab-rounds';
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

async function main(): Promise<void> {
  const [model = 'tokenizer', size = 'smoke', repsArg = '8', execArg = 'graph', what = 'all'] = process.argv.slice(2);
  const switches: Record<string, (on: boolean | undefined) => void> = {
    all: (on) => setNativeOps(on),
    'matmul-bias': (on) => setMatMulBias(on ?? true),
    'residual-branch': (on) => setResidualBranch(on ?? true),
  };
  const set = switches[what];
  if (!set) throw new Error(`switch "${what}": ${Object.keys(switches).join(' | ')}`);
  const reps = Number(repsArg);
  const exec = execArg === 'eager' ? 'eager' : 'graph';
  await initBackend({ log: null });
  const info = backendInfo();
  if (info.nativeOps !== 'avx2' && info.nativeOps !== 'avx') throw new Error(`op library not loaded: ${info.nativeOps ?? info.backend}`);
  const cases = { off: makeCase(model, size, exec), on: makeCase(model, size, exec) };
  const side = (on: boolean): AbSide => ({ before: () => set(on), run: () => cases[on ? 'on' : 'off'].run(), after: () => set(undefined) });
  // four untimed rounds: the executor learns both op sequences and builds their graphs
  const t = await abRounds({ off: side(false), on: side(true) }, reps);
  console.log(
    JSON.stringify({
      model,
      size,
      exec,
      switch: what,
      reps,
      threads: info.intraOpThreads ?? null,
      ops: info.nativeOps,
      load1: os.loadavg()[0],
      off_ms: t.off.ms,
      off_cpu_ms: t.off.cpuMs,
      on_ms: t.on.ms,
      on_cpu_ms: t.on.cpuMs,
    }),
  );
  for (const c of Object.values(cases)) c.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
