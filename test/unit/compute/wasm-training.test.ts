/**
 * Acceptance for the wasm backend (issue 4A): a small MLP, a small CNN and a small transformer
 * (embedding + pre-LN block + head) train — the loss falls — with every gradient kernel they need,
 * and 100 optimizer steps leave no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { blockForward, blockVariables, causalMask, initBlock, type BlockConfig } from '../../../bench/compute-block';
import { expectNoTensorLeak, randomValues } from '../../helpers/tensors';

/** One warm-up step (creates the optimizer's slots), then `steps` steps under a leak check. Returns losses. */
async function train(vars: tf.Variable[], lossFn: () => tf.Scalar, steps: number, lr: number): Promise<number[]> {
  const opt = tf.train.adam(lr);
  const step = () => {
    const l = opt.minimize(lossFn, true, vars);
    if (!l) throw new Error('minimize returned no loss');
    const v = l.dataSync()[0] as number;
    l.dispose();
    return v;
  };
  const losses = [step()];
  await expectNoTensorLeak(
    () => {
      for (let i = 0; i < steps; i++) losses.push(step());
    },
    { label: `${steps} training steps` },
  );
  opt.dispose();
  return losses;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

test('MLP trains on wasm without leaks', async () => {
  await initBackend({ backend: 'wasm', log: null });
  // Teacher-student regression: targets from a fixed random 2-layer net.
  const x = tf.tensor2d(randomValues(64 * 16, 11), [64, 16]);
  const y = tf.tidy(() => tf.tanh(x.matMul(tf.tensor2d(randomValues(16 * 4, 12), [16, 4]))));
  const w1 = tf.variable(tf.randomNormal([16, 32], 0, 0.3, 'float32', 1));
  const b1 = tf.variable(tf.zeros([32]));
  const w2 = tf.variable(tf.randomNormal([32, 4], 0, 0.3, 'float32', 2));
  const loss = () => tf.tidy(() => tf.losses.meanSquaredError<tf.Tensor, tf.Scalar>(y, tf.relu(x.matMul(w1).add(b1)).matMul(w2)));
  const losses = await train([w1, b1, w2], loss, 100, 0.01);
  assert.ok(mean(losses.slice(-10)) < 0.3 * (losses[0] as number), `loss ${losses[0]} → ${mean(losses.slice(-10))}`);
  tf.dispose([x, y, w1, b1, w2]);
});

test('CNN (conv + strided conv + dense) trains on wasm without leaks', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const x = tf.tensor4d(randomValues(8 * 8 * 8 * 3, 21), [8, 8, 8, 3]);
  const labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4);
  const k1 = tf.variable<tf.Rank.R4>(tf.randomNormal([3, 3, 3, 8], 0, 0.3, 'float32', 3));
  const k2 = tf.variable<tf.Rank.R4>(tf.randomNormal([2, 2, 8, 8], 0, 0.3, 'float32', 4)); // stride 2, like a patch embed
  const wd = tf.variable(tf.randomNormal([4 * 4 * 8, 4], 0, 0.1, 'float32', 5));
  const loss = () =>
    tf.tidy(() => {
      const h = tf.relu(tf.conv2d(x, k1, 1, 'same'));
      const h2 = tf.relu(tf.conv2d(h, k2, 2, 'valid')).reshape([8, 4 * 4 * 8]); // [N, 4·4·8]
      return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(labels, h2.matMul(wd));
    });
  const losses = await train([k1, k2, wd], loss, 100, 0.01);
  assert.ok(mean(losses.slice(-10)) < 0.5 * (losses[0] as number), `loss ${losses[0]} → ${mean(losses.slice(-10))}`);
  tf.dispose([x, labels, k1, k2, wd]);
});

test('transformer (embedding + pre-LN block + head) trains on wasm without leaks', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const cfg: BlockConfig = { width: 32, heads: 4, mlpRatio: 4 };
  const vocab = 12;
  const [b, t] = [8, 16];
  // Periodic sequences (period 3, random phase/alphabet): next-token prediction is learnable in-context.
  const ids: number[] = [];
  for (let s = 0; s < b; s++) {
    const alphabet = [(s * 5) % vocab, (s * 5 + 3) % vocab, (s * 5 + 7) % vocab];
    for (let i = 0; i < t + 1; i++) ids.push(alphabet[i % 3] as number);
  }
  const all = tf.tensor2d(ids, [b, t + 1], 'int32');
  const inp = all.slice([0, 0], [b, t]);
  const target = tf.oneHot(all.slice([0, 1], [b, t]).reshape([b * t]), vocab);
  const emb = tf.variable(tf.randomNormal([vocab, cfg.width], 0, 0.1, 'float32', 7));
  const pos = tf.variable(tf.randomNormal([t, cfg.width], 0, 0.1, 'float32', 8));
  const head = tf.variable(tf.randomNormal([cfg.width, vocab], 0, 0.1, 'float32', 9));
  const block = initBlock(cfg, 10);
  const mask = causalMask(t);
  const loss = () =>
    tf.tidy(() => {
      const x = tf.gather(emb, inp).add<tf.Tensor3D>(pos); // [B, T, C]
      const h = blockForward(block, cfg, x, mask).reshape([b * t, cfg.width]); // [B·T, C]
      return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(target, h.matMul(head));
    });
  const losses = await train([emb, pos, head, ...blockVariables(block)], loss, 100, 3e-3);
  assert.ok(mean(losses.slice(-10)) < 0.5 * (losses[0] as number), `loss ${losses[0]} → ${mean(losses.slice(-10))}`);
  tf.dispose([all, inp, target, emb, pos, head, mask, ...blockVariables(block)]);
});
