import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { gatherPositions, learnedPosEmbed, resizePosEmbed2d, sincos2d } from '../../../../models/layers/position-embedding';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('sincos2d: MAE layout (column in the first half, row in the second)', async () => {
  await expectNoTensorLeak(() => {
    const t = sincos2d(2, 3, 8); // quarter = 2 frequencies: ω = 1, 1/100
    assert.deepEqual(t.shape, [6, 8]);
    const rows = t.arraySync() as number[][];
    expectClose(rows[0]!, [0, 0, 1, 1, 0, 0, 1, 1], 1e-6, 'origin');
    // row 1, column 2 → raster index 5
    const [c, r] = [2, 1];
    expectClose(
      rows[5]!,
      [Math.sin(c), Math.sin(c / 100), Math.cos(c), Math.cos(c / 100), Math.sin(r), Math.sin(r / 100), Math.cos(r), Math.cos(r / 100)],
      1e-6,
    );
    t.dispose();
  });
  assert.throws(() => sincos2d(2, 2, 6), { code: 'CONFIG_INVALID' });
});

test('learned table + permuted gather (RAR order) with gradients into the table', async () => {
  await expectNoTensorLeak(() => {
    const init = learnedPosEmbed(5, 3, Rng.fromSeed(1));
    assert.deepEqual(init.shape, [1, 5, 3]);
    init.dispose();
    const table = randVar([1, 5, 3], 2);
    const pos = tf.tensor2d(
      [
        [0, 4, 2],
        [1, 1, 3],
      ],
      [2, 3],
      'int32',
    );
    const g = gatherPositions(table, pos);
    assert.deepEqual(g.shape, [2, 3, 3]);
    const rows = (table.arraySync() as number[][][])[0]!;
    expectClose(
      g.dataSync(),
      [0, 4, 2, 1, 1, 3].flatMap((i) => rows[i]!),
      1e-7,
    );
    gradCheck(() => gatherPositions(table, pos), new Map([['pos_embed', table]]));
    tf.dispose([table, pos, g]);
  });
});

test('resizePosEmbed2d keeps the prefix rows and is the identity at the same size', async () => {
  await expectNoTensorLeak(() => {
    const table = randVar([1, 1 + 9, 4], 3);
    const same = resizePosEmbed2d(table, { prefix: 1, from: [3, 3], to: [3, 3] });
    expectClose(same.dataSync(), table.dataSync(), 1e-6);
    const up = resizePosEmbed2d(table, { prefix: 1, from: [3, 3], to: [6, 6] });
    assert.deepEqual(up.shape, [1, 37, 4]);
    tf.tidy(() => expectClose(up.slice([0, 0, 0], [1, 1, 4]).dataSync(), table.slice([0, 0, 0], [1, 1, 4]).dataSync(), 1e-7));
    tf.dispose([table, same, up]);
  });
});
