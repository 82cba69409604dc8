import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { dropPath, dropPathRates } from '../../../../models/layers/drop-path';
import { Rng } from '../../../../models/training/rng';
import { expectNoTensorLeak } from '../../../helpers/tensors';

before(async () => {
  await tf.setBackend('cpu');
});

test('dropPathRates is timm linspace(0, rate, depth)', () => {
  assert.deepEqual(dropPathRates(0.1, 1), [0]);
  const r = dropPathRates(0.3, 4);
  assert.equal(r.length, 4);
  [0, 0.1, 0.2, 0.3].forEach((v, i) => assert.ok(Math.abs((r[i] as number) - v) < 1e-12));
});

test('dropPath zeroes whole samples with probability rate and scales survivors by 1/(1−rate)', async () => {
  await expectNoTensorLeak(() => {
    const B = 2000;
    const x = tf.ones([B, 3, 2]);
    const y = dropPath(x, 0.25, Rng.fromSeed(3));
    const v = y.dataSync();
    let kept = 0;
    for (let b = 0; b < B; b++) {
      const row = Array.from(v.slice(b * 6, b * 6 + 6));
      assert.ok(
        row.every((e) => e === row[0]),
        'one decision per sample',
      );
      if (row[0] !== 0) {
        kept++;
        assert.ok(Math.abs((row[0] as number) - 1 / 0.75) < 1e-6);
      }
    }
    assert.ok(Math.abs(kept / B - 0.75) < 4 * Math.sqrt((0.75 * 0.25) / B), `kept ${kept / B}`);
    const same = dropPath(x, 0.25, Rng.fromSeed(3));
    assert.deepEqual(Array.from(same.dataSync()), Array.from(v), 'same stream state → same drops');
    const none = dropPath(x, 0, Rng.fromSeed(3));
    assert.deepEqual(Array.from(none.dataSync()), Array.from(x.dataSync()));
    tf.dispose([x, y, same, none]);
  });
  assert.throws(() => dropPath(tf.ones([1]), 1, Rng.fromSeed(1)), { code: 'CONFIG_INVALID' });
});
