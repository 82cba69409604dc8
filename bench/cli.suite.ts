/**
 * CLI suite (issue 11): wall time of short `robustok` calls through the bin users run (bin/robustok.js),
 * as a ratio against `node -e 0` timed in the same run — a machine-independent "how many bare Node starts
 * is this". Goals: validate and plan of a small spec < 0.5 s, a no-op re-run of a finished 4-stage
 * pipeline (pipelines/demo-commands.yaml) < 1.5 s.
 *
 * Cases, each the median of --reps runs after one warm-up:
 * - validate / plan / --help, compiled (dist/, built first by this suite) and through tsx (the bin's
 *   fallback, i.e. what every call cost before the build step);
 * - a no-op re-run (all four stages cached) on the embedded default (a dev server started per call), and
 *   on a local server kept up by `robustok server start --detach`, both compiled.
 * The compiled cases set ROBUSTOK_CLI=dist so that an edit elsewhere in the checkout during the bench
 * cannot switch them to tsx; that skips the bin's staleness check (~5 ms).
 *
 * `ours_ms` is the call, `node_ms` the bare Node start, `ratio` ours / node; `torch_ms` is null (no
 * PyTorch counterpart).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildDist } from '../infra/build-dist';
import type { BenchCase, BenchContext, BenchSuite } from './run';

const ROOT = path.resolve(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'robustok.js');
const SPEC = path.join(ROOT, 'pipelines', 'demo-commands.yaml');

/** Runs a command to completion; its wall time in ms. A non-zero exit fails the bench (a broken CLI is not fast). */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env, cwd: os.tmpdir(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`node ${args.join(' ')} exited ${String(code)}:\n${stderr.slice(-2000)}`)),
    ),
  );
}

async function median(args: string[], env: NodeJS.ProcessEnv, reps: number): Promise<number> {
  await timed(args, env);
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await timed(args, env));
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

interface CliCase {
  name: string;
  args: string[];
  compiled: boolean;
  goalMs?: number;
  /** Set up before timing (e.g. start the local server), undone after. */
  around?: (env: NodeJS.ProcessEnv) => Promise<() => Promise<void>>;
}

export const suite: BenchSuite = {
  name: 'cli',
  description: 'robustok bin wall time (compiled vs tsx; no-op re-run embedded vs detached server) as a ratio against node -e 0',
  async run(ctx: BenchContext): Promise<BenchCase[]> {
    await buildDist(ctx.log);
    const home = await mkdtemp(path.join(os.tmpdir(), 'bench-cli-'));
    const base: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_HOME: home };
    // The embedded default: no server address or store from the caller's environment.
    for (const k of Object.keys(base)) if (k.startsWith('TEMPORAL_') || k.startsWith('ROBUSTOK_S3_') || k === 'ROBUSTOK_STORE') delete base[k];
    const dist = { ...base, ROBUSTOK_CLI: 'dist' };
    const tsx = { ...base, ROBUSTOK_CLI: 'tsx' };
    const reps = Math.max(3, ctx.reps);
    const detached = async (env: NodeJS.ProcessEnv) => {
      await timed([BIN, 'server', 'start', '--detach'], env);
      return async () => void (await timed([BIN, 'server', 'stop'], env));
    };
    const cases: CliCase[] = [
      { name: 'validate demo-commands.yaml', args: [BIN, 'validate', SPEC], compiled: true, goalMs: 500 },
      { name: 'plan demo-commands.yaml', args: [BIN, 'plan', SPEC], compiled: true, goalMs: 500 },
      { name: '--help', args: [BIN, '--help'], compiled: true },
      { name: 'validate demo-commands.yaml', args: [BIN, 'validate', SPEC], compiled: false },
      { name: 'plan demo-commands.yaml', args: [BIN, 'plan', SPEC], compiled: false },
      { name: '--help', args: [BIN, '--help'], compiled: false },
      { name: 'no-op re-run, embedded dev server', args: [BIN, 'run', SPEC], compiled: true, goalMs: 1500 },
      { name: 'no-op re-run, server start --detach', args: [BIN, 'run', SPEC], compiled: true, goalMs: 1500, around: detached },
    ];
    const out: BenchCase[] = [];
    try {
      // The first run executes the four stages; every timed run after it finds them cached.
      await timed([BIN, 'run', SPEC], dist);
      for (const c of cases) {
        const env = c.compiled ? dist : tsx;
        const undo = c.around === undefined ? undefined : await c.around(env);
        const load1 = os.loadavg()[0] as number;
        let ours: number;
        let node: number;
        try {
          node = await median(['-e', '0'], env, reps);
          ours = await median(c.args, env, reps);
        } finally {
          await undo?.();
        }
        const name = `${c.name} (${c.compiled ? 'compiled' : 'tsx'})`;
        const goal = c.goalMs === undefined ? '' : `; goal < ${c.goalMs} ms: ${ours < c.goalMs ? 'met' : 'not met'}`;
        ctx.log(`  ${name} (load ${load1.toFixed(1)}): ${ours.toFixed(0)} ms = ${(ours / node).toFixed(1)} × node -e 0 (${node.toFixed(0)} ms)${goal}`);
        out.push({
          suite: 'cli',
          name,
          ours_ms: ours,
          torch_ms: null,
          ratio: ours / node,
          node_ms: node,
          gflops: null,
          peak_gflops: null,
          load1,
          note: `median of ${reps} after a warm-up; ratio against node -e 0 timed just before${goal}`,
        });
      }
    } finally {
      await timed([BIN, 'server', 'stop'], dist).catch(() => undefined);
      await rm(home, { recursive: true, force: true });
    }
    return out;
  },
};
