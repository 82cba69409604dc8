/**
 * decodeIdsToUint8 on tfjs-node: from the second batch of a shape on, the decode runs as a TensorFlow
 * graph (compute/deferred-execution.ts), with the pixels of an eager decode. Skipped without tfjs-node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { deferredStats } from '../../../compute/deferred-execution';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { decodeIdsToUint8 } from '../../../models/tokenizer-images';
import { Rng } from '../../../models/training/rng';
import { onNativeBackend } from '../../helpers/native-backend';
import { TINY_TOKENIZER } from '../../helpers/sampling-artifacts';
import { expectNoTensorLeak } from '../../helpers/tensors';

test('decodeIdsToUint8: graph-run batches give the eager pixels, and graphs ran', async (t) => {
  await onNativeBackend(t, async () => {
    const tok = new RobustokTokenizer(TINY_TOKENIZER, Rng.fromSeed(3));
    const L = TINY_TOKENIZER.num_latent_tokens;
    const ids = Int32Array.from({ length: 3 * L }, (_, i) => (i * 37) % TINY_TOKENIZER.codebook_size); // 3 images × L tokens
    const saved = process.env.ROBUSTOK_NATIVE_EXEC;
    try {
      process.env.ROBUSTOK_NATIVE_EXEC = 'eager';
      const eager = await decodeIdsToUint8(tok, ids, 3);
      delete process.env.ROBUSTOK_NATIVE_EXEC;
      const runs0 = deferredStats()?.graphRuns ?? 0;
      for (let k = 0; k < 3; k++) {
        const img = await expectNoTensorLeak(() => decodeIdsToUint8(tok, ids, 3));
        assert.deepEqual(img, eager, `batch ${k}`);
      }
      assert.ok((deferredStats()?.graphRuns ?? 0) > runs0, 'graphs ran');
    } finally {
      if (saved === undefined) delete process.env.ROBUSTOK_NATIVE_EXEC;
      else process.env.ROBUSTOK_NATIVE_EXEC = saved;
      tok.dispose();
    }
    assert.equal(tf.getBackend(), 'tensorflow');
  });
});
