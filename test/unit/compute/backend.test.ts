/**
 * Backend selection: explicit choices, the auto fallback chain on a host without the native
 * packages, the JSON record, and the failures (unknown name; a native backend asked for but absent).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, describeBackend, initBackend, parseBackendChoice } from '../../../compute/backend';
import { isPipelineError } from '../../../core/errors';

function nativeInstalled(): boolean {
  for (const p of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      require.resolve(p);
      return true;
    } catch {
      // not installed
    }
  }
  return false;
}

test('parseBackendChoice accepts the four names, case-insensitively, and rejects others', () => {
  assert.equal(parseBackendChoice(undefined), 'auto');
  assert.equal(parseBackendChoice(' WASM '), 'wasm');
  assert.equal(parseBackendChoice('tensorflow'), 'tensorflow');
  assert.throws(
    () => parseBackendChoice('webgl'),
    (e) => isPipelineError(e, 'BACKEND_UNAVAILABLE') && /auto, tensorflow, wasm, cpu/.test(e.message),
  );
});

test('explicit cpu and wasm are honoured and recorded as JSON', async () => {
  const lines: string[] = [];
  const cpu = await initBackend({ backend: 'cpu', log: (l) => lines.push(l) });
  assert.equal(cpu.backend, 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  const wasm = await initBackend({ backend: 'wasm', log: (l) => lines.push(l) });
  assert.equal(wasm.backend, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.equal(wasm.package, '@tensorflow/tfjs-backend-wasm');
  assert.equal(wasm.simd, true);
  assert.deepEqual(JSON.parse(JSON.stringify(backendInfo())), backendInfo());
  assert.match(lines.join('\n'), /compute backend: cpu[\s\S]*compute backend: wasm/);
});

test('ROBUSTOK_BACKEND is read when no option is given', async () => {
  process.env.ROBUSTOK_BACKEND = 'cpu';
  try {
    assert.equal((await initBackend({ log: null })).backend, 'cpu');
  } finally {
    delete process.env.ROBUSTOK_BACKEND;
  }
});

// Absent packages are simulated by name, so these run whether or not tfjs-node is installed here.
const ABSENT = ['@robustok/absent-native-gpu', '@robustok/absent-native'];

test('auto without native packages falls through to wasm and says why', async () => {
  await initBackend({ backend: 'cpu', log: null }); // force a real switch
  const info = await initBackend({ backend: 'auto', log: null, nativePackages: ABSENT });
  assert.equal(info.backend, 'wasm');
  assert.equal(info.requested, 'auto');
  assert.deepEqual(info.skipped, ['@robustok/absent-native-gpu: not installed', '@robustok/absent-native: not installed']);
  assert.match(describeBackend(info), /skipped: @robustok\/absent-native-gpu: not installed/);
});

test('asking for tensorflow where it is absent fails with BACKEND_UNAVAILABLE', async () => {
  await initBackend({ backend: 'cpu', log: null });
  await assert.rejects(
    initBackend({ backend: 'tensorflow', log: null, nativePackages: ABSENT }),
    (e) => isPipelineError(e, 'BACKEND_UNAVAILABLE') && /--backend wasm/.test(e.message),
  );
});

test('auto prefers an installed native package over wasm', { skip: !nativeInstalled() && 'no native tfjs package installed' }, async () => {
  const info = await initBackend({ backend: 'auto', log: null });
  assert.equal(info.backend, 'tensorflow');
  assert.match(info.package, /^@tensorflow\/tfjs-node/);
});
