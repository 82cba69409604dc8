/**
 * The sampling decoder (models/rar-decoder.ts) against the model's plain cached forward: same logits at
 * every step within float32 rounding (it folds LayerNorm affines into the adaLN rows and reorders sums),
 * with [class; null] rows as sampling feeds them, on the cpu backend and on tfjs-node when present (there
 * both as eager kernels and as the one-graph step of models/rar-decoder-graph.ts, whose caches are written
 * in place, so decoders sharing the graph must not see each other's).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { onNativeBackend } from '../../helpers/native-backend';
import type { Rar } from '../../../models/rar';
import { RarConfig } from '../../../models/rar-config';
import { RarDecoder, RarDecoderWeights } from '../../../models/rar-decoder';
import { MIN_SHARD_ROWS, stepShards } from '../../../models/rar-decoder-graph';
import { perturbedRar } from '../../helpers/rar-models';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

before(async () => {
  await tf.setBackend('cpu');
});

const tiny = RarConfig.parse({ hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 32, imageSeqLen: 6, codebookSize: 10, numClasses: 3 });

/** Every parameter perturbed, LayerNorm weights and biases included (the decoder folds them). */
const build = (seed = 1): Rar => perturbedRar(tiny, { initSeed: seed, drawSeed: seed + 100, std: 0.3, normWeightsAroundOne: true });

async function decoderMatchesCachedForward(graph = false): Promise<void> {
  const m = build();
  const L = tiny.imageSeqLen;
  const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]; // [2 samples, L] raster ids
  const R = 4; // [class; null] for 2 samples
  const condIds = Int32Array.from([...m.conditionIds([1, 2]), m.tokens.nullClassId, m.tokens.nullClassId]);
  const rowIds = (s: number) => Int32Array.from({ length: R }, (_, r) => ids[(r % 2) * L + s] as number);
  const weights = new RarDecoderWeights(m);
  if (graph) {
    await weights.useNativeGraph();
    assert.ok(weights.step, 'the native backend runs the step as one graph');
  }
  await expectNoTensorLeak(() => {
    const dec = new RarDecoder(weights, condIds);
    const caches = m.newCaches();
    const cond = tf.tensor1d(condIds, 'int32');
    for (let s = 0; s < L; s++) {
      const got = s === 0 ? dec.start() : dec.next(rowIds(s - 1));
      const want = tf.tidy(() => {
        const prefix = tf.tensor2d(
          Int32Array.from({ length: R * s }, (_, i) => rowIds(i % s)[Math.floor(i / s)] as number),
          [R, s],
          'int32',
        );
        return m.forwardCached(prefix, cond, caches).reshape([R, tiny.codebookSize]); // [R, 1, K] -> [R, K]
      });
      assert.deepEqual(got.shape, [R, tiny.codebookSize]);
      const err = relativeError(got.dataSync(), want.dataSync());
      assert.ok(err < 2e-6, `step ${s}: relative error ${err.toExponential(2)}`);
      tf.dispose([got, want]);
    }
    assert.throws(() => dec.next(rowIds(0)), { code: 'INTERNAL' }); // all L positions fed
    caches.forEach((c) => c.dispose());
    cond.dispose();
    dec.dispose();
  });
  weights.dispose();
  m.dispose();
}

test('decoder logits equal the cached forward at every step (cpu)', () => decoderMatchesCachedForward());

test('decoder logits equal the cached forward at every step (tfjs-node: eager kernels and the step graph)', async (t) => {
  await onNativeBackend(
    t,
    async () => {
      await decoderMatchesCachedForward();
      await decoderMatchesCachedForward(true);
    },
    'tfjs-node not available: checked on the cpu backend only',
  );
});

test('graph decoders each write their own caches in place: two stepped alternately give the logits each gives alone (tfjs-node)', async (t) => {
  await onNativeBackend(
    t,
    async () => {
      const m = build(3);
      const weights = new RarDecoderWeights(m);
      await weights.useNativeGraph();
      assert.ok(weights.step, 'the native backend runs the step as one graph');
      const L = tiny.imageSeqLen;
      const conds = [
        Int32Array.from([...m.conditionIds([0, 2]), m.tokens.nullClassId, m.tokens.nullClassId]),
        Int32Array.from([...m.conditionIds([1, 1]), m.tokens.nullClassId, m.tokens.nullClassId]),
      ];
      const ids = (d: number, s: number) => Int32Array.from({ length: 4 }, (_, r) => (3 * s + 5 * r + 7 * d) % tiny.codebookSize);
      const step = (dec: RarDecoder, d: number, s: number): Float32Array => {
        const logits = s === 0 ? dec.start() : dec.next(ids(d, s - 1));
        const data = logits.dataSync() as Float32Array;
        logits.dispose();
        return data;
      };
      await expectNoTensorLeak(() => {
        const alone = conds.map((c, d) => {
          const dec = new RarDecoder(weights, c);
          const rows = Array.from({ length: L }, (_, s) => step(dec, d, s));
          dec.dispose();
          return rows;
        });
        const decs = conds.map((c) => new RarDecoder(weights, c));
        for (let s = 0; s < L; s++) {
          decs.forEach((dec, d) => assert.deepEqual(step(dec, d, s), alone[d]![s], `decoder ${d}, step ${s}`));
        }
        decs.forEach((dec) => dec.dispose());
        assert.notDeepEqual(alone[0]![L - 1], alone[1]![L - 1]); // the two decoders do differ
      });
      weights.dispose();
      m.dispose();
    },
    'tfjs-node not available: the step graph runs only there',
  );
});

test("a step graph split into row shards gives the unsplit graph's logits bit for bit (shards of 16 rows, tfjs-node)", async (t) => {
  await onNativeBackend(
    t,
    async () => {
      // wider than `tiny`, so the products are matmuls of the kind sampling runs
      const cfg = RarConfig.parse({ hiddenSize: 64, numLayers: 2, numHeads: 2, intermediateSize: 128, imageSeqLen: 6, codebookSize: 40, numClasses: 3 });
      const m = perturbedRar(cfg, { initSeed: 5, drawSeed: 105, std: 0.3, normWeightsAroundOne: true });
      const R = 2 * MIN_SHARD_ROWS;
      const cond = Int32Array.from({ length: R }, (_, r) => (r < R / 2 ? (m.conditionIds([r % 3])[0] as number) : m.tokens.nullClassId));
      const ids = (s: number) => Int32Array.from({ length: R }, (_, r) => (3 * s + 5 * r) % cfg.codebookSize);
      const run = async (shards: string): Promise<Float32Array[]> => {
        const before = process.env.ROBUSTOK_RAR_STEP_SHARDS;
        process.env.ROBUSTOK_RAR_STEP_SHARDS = shards;
        const weights = new RarDecoderWeights(m);
        try {
          await weights.useNativeGraph(R);
        } finally {
          if (before === undefined) delete process.env.ROBUSTOK_RAR_STEP_SHARDS;
          else process.env.ROBUSTOK_RAR_STEP_SHARDS = before;
        }
        assert.equal(weights.step?.shards, Number(shards));
        const out: Float32Array[] = [];
        await expectNoTensorLeak(() => {
          const dec = new RarDecoder(weights, cond);
          for (let s = 0; s < cfg.imageSeqLen; s++) {
            const logits = s === 0 ? dec.start() : dec.next(ids(s - 1));
            out.push(logits.dataSync() as Float32Array);
            logits.dispose();
          }
          dec.dispose();
        });
        weights.dispose();
        return out;
      };
      const whole = await run('1');
      const split = await run('2');
      whole.forEach((w, s) => assert.deepEqual(split[s], w, `step ${s}`));
      m.dispose();
    },
    'tfjs-node not available: the step graph runs only there',
  );
});

test('stepShards: up to the thread count (at most 8), dividing the rows into shards of at least MIN_SHARD_ROWS', () => {
  assert.equal(stepShards(64, 2), 2);
  assert.equal(stepShards(32, 2), 2);
  assert.equal(stepShards(16, 2), 1); // shards of 8 rows would round differently
  assert.equal(stepShards(64, 1), 1);
  assert.equal(stepShards(96, 4), 4);
  assert.equal(stepShards(48, 4), 3);
  assert.equal(stepShards(34, 2), 2);
  assert.equal(stepShards(30, 2), 1);
  assert.equal(stepShards(1024, 64), 8);
});

test('decoder refuses misuse without leaking', async () => {
  const m = build(2);
  await expectNoTensorLeak(() => {
    const weights = new RarDecoderWeights(m);
    const dec = new RarDecoder(weights, Int32Array.from([m.tokens.classOffset, m.tokens.nullClassId]));
    assert.throws(() => dec.next(Int32Array.from([0, 0])), { code: 'INTERNAL' });
    dec.start().dispose();
    assert.throws(() => dec.start(), { code: 'INTERNAL' });
    assert.throws(() => dec.next(Int32Array.from([0])), { code: 'TENSOR_SHAPE' });
    assert.throws(() => dec.next(Int32Array.from([0, tiny.codebookSize])), { code: 'TENSOR_SHAPE' });
    dec.next(Int32Array.from([0, 1])).dispose();
    dec.dispose();
    assert.throws(() => new RarDecoder(weights, Int32Array.from([m.tokens.vocab])), { code: 'TENSOR_SHAPE' });
    weights.dispose();
  });
  m.dispose();
});
