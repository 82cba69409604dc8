/** The native backend's thread pools are sized explicitly (ROBUSTOK_THREADS, else every core); TF_NUM_* set by hand win. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { nativeThreads } from '../../../compute/backend';

test('nativeThreads: all cores by default, ROBUSTOK_THREADS, explicit TensorFlow variables first', () => {
  const all: NodeJS.ProcessEnv = {};
  assert.deepEqual(nativeThreads(all), { intra: os.cpus().length, inter: os.cpus().length });
  assert.equal(all.TF_NUM_INTRAOP_THREADS, String(os.cpus().length), 'exported for TensorFlow to read');
  assert.deepEqual(nativeThreads({ ROBUSTOK_THREADS: '1' }), { intra: 1, inter: 1 });
  assert.deepEqual(nativeThreads({ ROBUSTOK_THREADS: 'lots' }), { intra: os.cpus().length, inter: os.cpus().length });
  assert.deepEqual(nativeThreads({ ROBUSTOK_THREADS: '1', TF_NUM_INTRAOP_THREADS: '3' }), { intra: 3, inter: 1 });
});
