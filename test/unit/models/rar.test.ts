import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { permute, Rar } from '../../../models/rar';
import { fromUpstreamYaml, RAR_PRESETS, RarConfig, RarConfigInput, tokenSpace } from '../../../models/rar-config';
import { namedGrads, disposeGrads } from '../../../models/training/grads';
import { Rng } from '../../../models/training/rng';
import { perturbedRar } from '../../helpers/rar-models';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

before(async () => {
  await tf.setBackend('cpu');
});

const tiny = RarConfig.parse({ hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 32, imageSeqLen: 6, codebookSize: 10, numClasses: 3 });

/** adaLN-zero makes every block the identity; perturb all weights so the tests see real mixing. */
const build = (seed = 1): Rar => perturbedRar(tiny, { initSeed: seed, drawSeed: seed + 100, std: 0.2 });

const ids2 = () => tf.tensor2d([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], [2, 6], 'int32');

test('token space, upstream names and shapes, §5 init', () => {
  assert.deepEqual(tokenSpace({ codebookSize: 4096, numClasses: 1000 }), { maskId: 4096, classOffset: 4097, nullClassId: 5097, vocab: 5098 });
  const m = new Rar(tiny, Rng.fromSeed(1));
  const shapes = Object.fromEntries([...m.stateDict()].map(([k, v]) => [k, v.shape]));
  assert.deepEqual(shapes.cls_token, [1, 1, 16]);
  assert.deepEqual(shapes.pos_embed, [1, 6 + 1024, 16]);
  assert.deepEqual(shapes.target_aware_pos_embed, [1, 6 + 1024, 16]);
  assert.deepEqual(shapes.timesteps_embeddings, [1, 6 + 100, 16]);
  assert.deepEqual(shapes['embeddings.weight'], [10 + 1 + 3 + 1, 16]);
  assert.deepEqual(shapes['blocks.1.adaLN_modulation.1.weight'], [96, 16]);
  assert.deepEqual(shapes['blocks.0.attn.q_norm.weight'], [8]);
  assert.deepEqual(shapes['blocks.0.mlp.fc1.weight'], [32, 16]);
  assert.deepEqual(shapes['adaln_before_head.adaLN_modulation.1.weight'], [32, 16]);
  assert.deepEqual(shapes['lm_head.weight'], [10, 16]);
  assert.equal(Object.keys(shapes).filter((k) => k.includes('norm_final')).length, 0, 'final norm has no affine parameters');
  const zero = (name: string) => m.stateDict().get(name)!.abs().max().dataSync()[0] as number;
  for (const n of [
    'cls_token',
    'blocks.0.adaLN_modulation.1.weight',
    'blocks.1.adaLN_modulation.1.bias',
    'adaln_before_head.adaLN_modulation.1.weight',
    'lm_head.bias',
  ])
    assert.equal(zero(n), 0, n);
  // trunc-normal(0.02) bounded at ±2 absolute as PyTorch's: in effect N(0, 0.02²), so the largest of
  // the embedding's entries lies beyond 2σ (0.04) and far inside the bound
  assert.ok(zero('pos_embed') > 0.04 && zero('pos_embed') < 0.2, `pos_embed max |w| ${zero('pos_embed')}`);
  assert.deepEqual(Array.from(m.conditionIds([0, 2], [false, true])), [11, 14]);
  assert.throws(() => m.conditionIds([3]), { code: 'TENSOR_SHAPE' });
  m.dispose();
});

test('config: presets, and the upstream YAML maps onto our keys', () => {
  assert.equal(RAR_PRESETS['rar-b'].hiddenSize, 768);
  assert.equal(RAR_PRESETS['rar-l'].intermediateSize, 4096);
  const yaml = {
    model: {
      vq_model: { codebook_size: 4096 },
      generator: {
        hidden_size: 768,
        num_hidden_layers: 24,
        num_attention_heads: 16,
        intermediate_size: 3072,
        dropout: 0.1,
        attn_drop: 0.1,
        class_label_dropout: 0.1,
        image_seq_len: 256,
        condition_num_classes: 1000,
        guidance_scale: 16.0,
        use_checkpoint: false,
      },
    },
    optimizer: {},
  };
  assert.deepEqual(RarConfigInput.parse(yaml), RAR_PRESETS['rar-b']);
  assert.deepEqual(fromUpstreamYaml({ hiddenSize: 1 }), { hiddenSize: 1 });
  assert.equal(RarConfigInput.safeParse({ ...tiny, extra: 1 }).success, false);
});

test('forward: [B, n + 1, K] logits, raster orders equal no orders, causal in the generation order', async () => {
  const m = build();
  await expectNoTensorLeak(() =>
    tf.tidy(() => {
      const ids = ids2();
      const cond = tf.tensor1d(m.conditionIds([0, 2]), 'int32');
      const a = m.forward(ids, cond);
      assert.deepEqual(a.shape, [2, 7, 10]);
      const raster = tf.tensor2d([0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5], [2, 6], 'int32');
      assert.ok(relativeError(m.forward(ids, cond, { orders: raster }).dataSync(), a.dataSync()) < 1e-6);
      // a prefix gives the same leading rows
      assert.ok(relativeError(m.forward(ids.slice([0, 0], [2, 3]), cond).dataSync(), a.slice([0, 0, 0], [2, 4, 10]).dataSync()) < 1e-5);
      // with an order, changing the token generated 3rd (raster position o_2) changes rows ≥ 3 only
      const orders = tf.tensor2d([5, 2, 0, 4, 1, 3, 1, 0, 3, 2, 5, 4], [2, 6], 'int32');
      const before = m.forward(ids, cond, { orders });
      const edited = Int32Array.from(ids.dataSync());
      edited[0] = 7; // sample 0, raster position 0 = order index 2
      const after = m.forward(tf.tensor2d(edited, [2, 6], 'int32'), cond, { orders });
      const d = after.sub(before).abs().max(-1).dataSync(); // [2, 7]
      for (let j = 0; j <= 2; j++) assert.ok((d[j] as number) < 1e-6, `row ${j} must not see order position 2`);
      assert.ok((d[3] as number) > 1e-4, 'row 3 sees it');
      for (let j = 7; j < 14; j++) assert.ok((d[j] as number) < 1e-6, 'sample 1 untouched');
      assert.deepEqual(Array.from(permute(ids, orders).dataSync()).slice(0, 6), [9, 4, 3, 5, 1, 1]);
    }),
  );
  m.dispose();
});

test('cached forward equals full forward row by row', async () => {
  const m = build(2);
  await expectNoTensorLeak(() => {
    const ids = ids2();
    const cond = tf.tensor1d(m.conditionIds([1, 1], [false, true]), 'int32');
    const full = m.forward(ids, cond);
    const caches = m.newCaches();
    for (let s = 0; s <= 6; s++) {
      const err = tf.tidy(() => {
        const rows = m.forwardCached(ids.slice([0, 0], [2, s]), cond, caches);
        assert.equal(rows.shape[1], 1);
        return relativeError(rows.dataSync(), full.slice([0, s, 0], [2, 1, 10]).dataSync());
      });
      assert.ok(err < 1e-5, `step ${s}: ${err}`);
    }
    assert.throws(() => m.forwardCached(ids, cond, caches), { code: 'INTERNAL' });
    caches.forEach((c) => c.dispose());
    tf.dispose([ids, cond, full]);
  });
  m.dispose();
});

test('dropout: deterministic per Rng state, off without it; gradients reach every parameter', async () => {
  const m = build(3);
  await expectNoTensorLeak(() => {
    const ids = ids2();
    const cond = tf.tensor1d(m.conditionIds([0, 1]), 'int32');
    const a = m.forward(ids, cond, { dropout: { rng: Rng.fromSeed(9) } });
    const b = m.forward(ids, cond, { dropout: { rng: Rng.fromSeed(9) } });
    const c = m.forward(ids, cond);
    assert.equal(relativeError(a.dataSync(), b.dataSync()), 0);
    assert.ok(relativeError(a.dataSync(), c.dataSync()) > 1e-3);
    const { loss, grads } = namedGrads(() => tf.tidy(() => m.forward(ids, cond).square().mean()), m.parameters());
    const missing = [...m.parameters().keys()].filter((k) => !grads.has(k));
    assert.deepEqual(missing, []);
    disposeGrads(grads);
    tf.dispose([loss, ids, cond, a, b, c]);
  });
  m.dispose();
});

test('input checks name the problem', () => {
  const m = new Rar(tiny, Rng.fromSeed(1));
  const cond = tf.tensor1d([11, 12], 'int32');
  assert.throws(() => m.forward(tf.zeros([2, 7], 'int32'), cond), { code: 'TENSOR_SHAPE' });
  assert.throws(() => m.forward(tf.zeros([2, 3], 'int32'), cond, { orders: tf.zeros([2, 6], 'int32') }), { code: 'TENSOR_SHAPE' });
  assert.throws(() => m.forward(tf.zeros([2, 3]), cond), { code: 'TENSOR_SHAPE' });
  assert.throws(() => new Rar({ ...tiny, numHeads: 3 }, Rng.fromSeed(1)), { code: 'CONFIG_INVALID' });
  m.dispose();
});
