/**
 * A StageContext for running a stage function directly in a unit test (no Temporal, no store):
 * checkpoints are directory copies under a folder shared by every attempt built with the same
 * `checkpointRoot`, so a test can fail one attempt and resume in the next one, as a retry would.
 */
import { cp, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { StageContext, StageProgress } from '../../stages/stage';

export interface TestStageContext<C> extends StageContext<C> {
  readonly lines: string[];
  readonly progressLog: StageProgress[];
  readonly saved: number[];
}

export interface TestStageContextOptions<C> {
  config: C;
  inputs?: Record<string, string>;
  seed?: number;
  attempt?: number;
  checkpointEvery?: number;
  /** Shared between attempts of the "same" stage run. */
  checkpointRoot?: string;
  /** Called before each checkpoint save; throw to simulate a crash at that step. */
  beforeSave?: (step: number) => void;
  signal?: AbortSignal;
}

export async function testStageContext<C>(o: TestStageContextOptions<C>): Promise<TestStageContext<C>> {
  const workdir = await mkdtemp(path.join(os.tmpdir(), 'stage-ctx-'));
  const ckRoot = o.checkpointRoot ?? path.join(workdir, '.checkpoints');
  await mkdir(ckRoot, { recursive: true });
  const lines: string[] = [];
  const progressLog: StageProgress[] = [];
  const saved: number[] = [];
  return {
    config: o.config,
    inputs: o.inputs ?? {},
    workdir,
    seed: o.seed ?? 0,
    attempt: o.attempt ?? 1,
    checkpointEvery: o.checkpointEvery ?? 0,
    log: { info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`) },
    progress: (p) => progressLog.push(p),
    signal: o.signal ?? new AbortController().signal,
    lines,
    progressLog,
    saved,
    checkpoints: {
      async latest() {
        const steps = (await readdir(ckRoot))
          .map((n) => /^step-(\d+)$/.exec(n)?.[1])
          .filter((s): s is string => s !== undefined)
          .map(Number);
        if (steps.length === 0) return undefined;
        const step = Math.max(...steps);
        const dir = path.join(workdir, '.resume', `step-${step}`);
        await rm(dir, { recursive: true, force: true });
        await cp(path.join(ckRoot, `step-${step}`), dir, { recursive: true });
        return { dir, step };
      },
      async save(dir, step) {
        o.beforeSave?.(step);
        await cp(dir, path.join(ckRoot, `step-${step}`), { recursive: true });
        saved.push(step);
      },
    },
  };
}
