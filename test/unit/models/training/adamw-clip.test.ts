import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { AdamW, noDecayByNameAndShape } from '../../../../models/training/adamw';
import { clipByGlobalNorm } from '../../../../models/training/clip';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { useCpuBackend } from '../layers/gradcheck';

before(useCpuBackend);

const SHAPES: Record<string, number[]> = { 'blk.w': [6, 5], 'blk.bias': [5], 'ln.weight': [7], 'head.w': [5, 3, 2], frozen: [4] };

/** Two optimizers over equal copies of the same parameters (two flat groups: decayed and not; one frozen). */
function twin(seed: number): { params: Map<string, tf.Variable>[]; opts: AdamW[] } {
  const rng = Rng.fromSeed(seed);
  const values = Object.entries(SHAPES).map(([n, s]) => [n, rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1)), 0, 1), s] as const);
  const params = [0, 1].map(() => new Map(values.map(([n, v, s]) => [n, tf.variable(tf.tensor(v, s), n !== 'frozen')])));
  const opts = params.map((p) => new AdamW(p, { lr: 0.05, weightDecay: 0.1, noDecay: noDecayByNameAndShape() }));
  return { params, opts };
}

function gradients(rng: Rng, scale: number): Map<string, tf.Tensor> {
  return new Map(Object.entries(SHAPES).map(([n, s]) => [n, tf.tensor(rng.fillNormal(new Float32Array(s.reduce((a, b) => a * b, 1)), 0, scale), s)]));
}

for (const [label, scale, maxNorm] of [
  ['clipping active (norm ≫ maxNorm)', 3, 1],
  ['clipping inactive (norm < maxNorm)', 0.01, 1],
] as const) {
  test(`applyClippedGradients = clipByGlobalNorm + applyGradients over 3 steps, ${label}`, async () => {
    const { params, opts } = twin(7);
    const [oldP, newP] = params as [Map<string, tf.Variable>, Map<string, tf.Variable>];
    const [oldOpt, newOpt] = opts as [AdamW, AdamW];
    const rng = Rng.fromSeed(11);
    const step = () => {
      const g = gradients(rng, scale);
      const c = clipByGlobalNorm(g, maxNorm);
      oldOpt.applyGradients(c.grads, 0.05);
      const norm = newOpt.applyClippedGradients(g, maxNorm, 0.05);
      // the norm is summed per flat group instead of per parameter: equal to float32 rounding
      expectClose(norm.dataSync(), c.norm.dataSync(), 1e-6);
      assert.ok(scale > 1 ? c.norm.dataSync()[0]! > maxNorm : c.norm.dataSync()[0]! < maxNorm);
      tf.dispose([...g.values(), ...c.grads.values(), c.norm, norm]);
    };
    step(); // creates the optimizers' moments
    await expectNoTensorLeak(() => {
      step();
      step();
    });
    for (const [n, p] of oldP) {
      // the frozen parameter is untouched on both sides; the others differ at most by the rounding of the coefficient
      expectClose(newP.get(n)!.dataSync(), p.dataSync(), 1e-6, n);
    }
    const [oldState, newState] = [oldOpt.stateTensors(), newOpt.stateTensors()];
    assert.deepEqual([...newState.keys()].sort(), [...oldState.keys()].sort());
    for (const [k, t] of oldState) expectClose(newState.get(k)!.dataSync(), t.dataSync(), 1e-6, k);
    for (const o of opts) o.dispose();
    for (const m of params) for (const v of m.values()) v.dispose();
  });
}

test('applyClippedGradients: below maxNorm the update is bit-identical to applyGradients', async () => {
  const { params, opts } = twin(3);
  const g = gradients(Rng.fromSeed(5), 0.01);
  const step = () => {
    opts[0]!.applyGradients(g);
    opts[1]!.applyClippedGradients(g, 1e6).dispose();
  };
  step(); // creates the moments
  await expectNoTensorLeak(step);
  for (const [n, p] of params[0]!) assert.deepEqual(Array.from(params[1]!.get(n)!.dataSync()), Array.from(p.dataSync()), n);
  tf.dispose([...g.values()]);
  for (const o of opts) o.dispose();
  for (const m of params) for (const v of m.values()) v.dispose();
});

test('applyClippedGradients rejects a non-positive norm', () => {
  const { params, opts } = twin(1);
  assert.throws(() => opts[0]!.applyClippedGradients(new Map(), 0), /clipping norm must be > 0/);
  for (const o of opts) o.dispose();
  for (const m of params) for (const v of m.values()) v.dispose();
});
