import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { VitBlock } from '../../../../models/layers/vit-block';
import { KVCache } from '../../../../models/layers/kv-cache';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randn, randVar, scaleParams, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('VitBlock names follow timm (DINOv2 LayerScale included)', () => {
  const b = new VitBlock({ dim: 8, numHeads: 2, layerScale: 1e-5, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...b.parameters().keys()],
    [
      'norm1.weight',
      'norm1.bias',
      'attn.qkv.weight',
      'attn.qkv.bias',
      'attn.proj.weight',
      'attn.proj.bias',
      'ls1.gamma',
      'norm2.weight',
      'norm2.bias',
      'mlp.fc1.weight',
      'mlp.fc1.bias',
      'mlp.fc2.weight',
      'mlp.fc2.bias',
      'ls2.gamma',
    ],
  );
  assert.equal(b.numParameters(), 2 * 8 + (24 * 8 + 24) + (64 + 8) + 8 + 2 * 8 + (32 * 8 + 32) + (8 * 32 + 8) + 8);
  b.dispose();
});

test('VitBlock keeps the shape, supports causal + cache, leaks nothing', async () => {
  const b = new VitBlock({ dim: 8, numHeads: 2, qkNorm: true, rng: Rng.fromSeed(2) });
  scaleParams(b.parameters(), 10);
  const x = randn([2, 4, 8], 3);
  await expectNoTensorLeak(() => {
    const full = b.forward(x, { causal: true });
    assert.deepEqual(full.shape, [2, 4, 8]);
    const cache = new KVCache();
    const steps = [0, 1, 2, 3].map((t) => tf.tidy(() => b.forward(x.slice([0, t, 0], [2, 1, 8]), { causal: true, cache })));
    const inc = tf.concat(steps, 1);
    expectClose(inc.dataSync(), full.dataSync(), 1e-4);
    tf.dispose([full, inc, ...steps]);
    cache.dispose();
  });
  x.dispose();
  b.dispose();
});

test('VitBlock gradients match finite differences', async () => {
  await expectNoTensorLeak(() => {
    const b = new VitBlock({ dim: 4, numHeads: 1, mlpRatio: 2, layerScale: 0.5, rng: Rng.fromSeed(4) });
    scaleParams(b.parameters(), 10);
    const x = randVar([1, 3, 4], 5);
    gradCheck(() => b.forward(x), new Map([...b.parameters(), ['x', x]]), { samples: 5, eps: 3e-3 });
    x.dispose();
    b.dispose();
  });
});
