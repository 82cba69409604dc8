/**
 * The stateless Philox uniform behind dropout masks: the JavaScript port equals TensorFlow's
 * StatelessRandomUniform element for element (negative seed words, a partial last group, counters past
 * one block), its values are uniform in [0, 1), and a dropout mask is the same on tfjs-node and cpu.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { onNativeBackend } from '../../../helpers/native-backend';
import { expectNoTensorLeak } from '../../../helpers/tensors';
import { setNativeOps } from '../../../../compute/native-ops';
import { dropoutMask } from '../../../../models/layers/dropout';
import { maskSeed, philoxUniform, philoxUniformJs, setNativePhilox } from '../../../../models/layers/philox-uniform';
import { Rng } from '../../../../models/training/rng';

const SEEDS: [number, number][] = [
  [0, 0],
  [1, 2],
  [-5, 0x6d61736b],
  [123456789, -1],
  [-(2 ** 31), 2 ** 31 - 1],
];

test('philoxUniformJs: values in [0, 1) with the moments of a uniform, and different seeds give different streams', () => {
  const n = 1 << 16;
  const a = philoxUniformJs(n, [7, 9]);
  let sum = 0;
  let sq = 0;
  for (const v of a) {
    assert.ok(v >= 0 && v < 1, `value ${v} outside [0, 1)`);
    sum += v;
    sq += v * v;
  }
  const mean = sum / n;
  const variance = sq / n - mean * mean;
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 12) < 0.005, `variance ${variance}`);
  const b = philoxUniformJs(n, [8, 9]);
  let same = 0;
  for (let i = 0; i < n; i++) if (a[i] === b[i]) same++;
  assert.ok(same < n / 1000, `${same} equal values between seeds`);
  // a prefix of a longer draw is the shorter draw (groups of four are independent of the size)
  assert.deepEqual(philoxUniformJs(10, [7, 9]), a.slice(0, 10));
});

test('philoxUniform on tfjs-node equals the JavaScript port element for element', async (t) => {
  await onNativeBackend(t, async () => {
    try {
      for (const seed of SEEDS) {
        for (const shape of [[1], [7], [4, 5, 3], [2, 3, 65, 65]]) {
          const native = await expectNoTensorLeak(() => {
            const x = philoxUniform(shape, seed);
            const values = x.dataSync() as Float32Array;
            x.dispose();
            return values;
          });
          const js = philoxUniformJs(native.length, seed);
          let bad = 0;
          for (let i = 0; i < js.length; i++) if (native[i] !== js[i]) bad++;
          assert.equal(bad, 0, `seed ${seed.join(',')} shape ${shape.join('x')}: ${bad} of ${js.length} differ`);
        }
      }
      // and through dropoutMask: tfjs-node's kernel vs the port (forced) vs the cpu backend (our op library's
      // one-kernel mask has its own test in native-ops.test.ts)
      setNativeOps(false);
      const mask = () => tf.tidy(() => dropoutMask([3, 4, 9, 9], 0.25, Rng.fromSeed(42)).dataSync() as Float32Array);
      const native = await expectNoTensorLeak(mask);
      setNativePhilox(false);
      const port = await expectNoTensorLeak(mask);
      setNativePhilox(true);
      await tf.setBackend('cpu');
      const cpu = await expectNoTensorLeak(mask);
      assert.deepEqual(native, port);
      assert.deepEqual(native, cpu);
      const kept = native.filter((v) => v !== 0);
      assert.ok(kept.every((v) => v === Math.fround(1 / 0.75)));
      assert.ok(Math.abs(kept.length / native.length - 0.75) < 0.05, `kept ${kept.length} of ${native.length}`);
    } finally {
      setNativePhilox(true);
      setNativeOps(undefined);
    }
  });
});

test('maskSeed keeps one stream word as an int32 and fixes the second', () => {
  assert.deepEqual(maskSeed(0xffffffff), [-1, 0x6d61736b]);
  assert.deepEqual(maskSeed(5), [5, 0x6d61736b]);
});
