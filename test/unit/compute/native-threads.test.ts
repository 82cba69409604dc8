/**
 * The native backend's thread pools are sized explicitly (ROBUSTOK_THREADS, else every core); TF_NUM_* set
 * by hand win (issue 12: "intra-/inter-op thread settings explicit, configurable, recorded in manifests").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { nativeThreads } from '../../../compute/backend';

const requireHere = createRequire(__filename);

function nativeInstalled(): boolean {
  try {
    requireHere.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

test('nativeThreads: all cores by default, ROBUSTOK_THREADS, explicit TensorFlow variables first', () => {
  const all: NodeJS.ProcessEnv = {};
  assert.deepEqual(nativeThreads(all), { intra: os.cpus().length, inter: os.cpus().length });
  assert.equal(all.TF_NUM_INTRAOP_THREADS, String(os.cpus().length), 'exported for TensorFlow to read');
  assert.equal(all.TF_OVERRIDE_GLOBAL_THREADPOOL, '1', 'a pool per session (compute/native-graph.ts SessionThreads)');
  assert.deepEqual(nativeThreads({ ROBUSTOK_THREADS: '1' }), { intra: 1, inter: 1 });
  assert.deepEqual(nativeThreads({ ROBUSTOK_THREADS: 'lots' }), { intra: os.cpus().length, inter: os.cpus().length });
  assert.deepEqual(nativeThreads({ ROBUSTOK_THREADS: '1', TF_NUM_INTRAOP_THREADS: '3' }), { intra: 3, inter: 1 });
});

/** Runs test/helpers/native-threads-child.ts with ROBUSTOK_THREADS=n (TensorFlow reads it once per process). */
function childAt(n: number): { tasks: number; manifestBackend: { backend: string; intraOpThreads?: number; interOpThreads?: number } } {
  const env: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_THREADS: String(n), TF_CPP_MIN_LOG_LEVEL: '2' };
  delete env.TF_NUM_INTRAOP_THREADS; // an inherited setting would win over ROBUSTOK_THREADS
  delete env.TF_NUM_INTEROP_THREADS;
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', '..', 'helpers', 'native-threads-child.ts')], {
    cwd: path.join(__dirname, '..', '..', '..'),
    encoding: 'utf8',
    env,
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `child at ${n} thread(s) failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ReturnType<typeof childAt>;
}

test(
  'native backend: the thread counts reach TensorFlow (its pools follow them) and every stage manifest',
  { skip: (!nativeInstalled() && 'no native tfjs package installed') || (!existsSync('/proc/self/task') && 'needs /proc to count threads') },
  () => {
    const one = childAt(1);
    const four = childAt(4);
    // The manifest's `backend` is the worker's record (cli/worker.ts passes recordedBackend()).
    assert.equal(one.manifestBackend.backend, 'tensorflow');
    assert.deepEqual([one.manifestBackend.intraOpThreads, one.manifestBackend.interOpThreads], [1, 1]);
    assert.deepEqual([four.manifestBackend.intraOpThreads, four.manifestBackend.interOpThreads], [4, 4]);
    // Pools of 4 + 4 instead of 1 + 1 threads: 6 more OS threads (measured: 14 → 20). Left at
    // TensorFlow's defaults (one per core each) both processes would have the same count.
    assert.ok(four.tasks - one.tasks >= 4, `OS threads ${one.tasks} at 1 thread, ${four.tasks} at 4: the pool sizes did not follow`);
  },
);
