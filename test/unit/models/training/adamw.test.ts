import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { AdamW, noDecayByNameAndShape } from '../../../../models/training/adamw';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { useCpuBackend } from '../layers/gradcheck';

before(useCpuBackend);

const variable = (values: number[], shape?: number[]) => {
  const t = tf.tensor(values, shape);
  const v = tf.variable(t);
  t.dispose();
  return v;
};
const grads = (entries: Record<string, number[]>, shapes: Record<string, number[]> = {}) =>
  new Map(Object.entries(entries).map(([k, v]) => [k, tf.tensor(v, shapes[k])]));

/** The PyTorch AdamW update in float64, for comparison. */
function reference(p: number[], gs: number[][], o: { lr: number; b1: number; b2: number; eps: number; wd: number }): number[] {
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  let x = [...p];
  gs.forEach((g, k) => {
    const t = k + 1;
    x = x.map((xi) => xi * (1 - o.lr * o.wd));
    g.forEach((gi, i) => {
      m[i] = o.b1 * m[i]! + (1 - o.b1) * gi;
      v[i] = o.b2 * v[i]! + (1 - o.b2) * gi * gi;
    });
    x = x.map((xi, i) => xi - (o.lr / (1 - o.b1 ** t)) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - o.b2 ** t) + o.eps)));
  });
  return x;
}

test('AdamW one step by hand: decay first, then lr·sign(g) (m̂/√v̂ = g/|g| at t = 1)', async () => {
  const w = variable([1, -2, 3, 0.5], [2, 2]);
  const opt = new AdamW(new Map([['w', w]]), { lr: 0.1, weightDecay: 0.01 });
  await expectNoTensorLeak(
    () => {
      const g = grads({ w: [0.5, 0.1, -2, 0] }, { w: [2, 2] });
      opt.applyGradients(g);
      tf.dispose([...g.values()]);
    },
    { allowed: 2 },
  ); // the two moment variables created on the first step
  // g = 0 ⇒ m = v = 0 ⇒ only the decay applies
  expectClose(w.dataSync(), [0.999 - 0.1, -1.998 - 0.1, 2.997 + 0.1, 0.5 * 0.999], 1e-6);
  assert.equal(opt.step, 1);
  opt.dispose();
  w.dispose();
});

test('AdamW matches the float64 PyTorch formula over several steps, betas and eps included', () => {
  const o = { lr: 0.01, b1: 0.9, b2: 0.95, eps: 1e-6, wd: 0.05 };
  const p0 = [0.3, -0.7, 1.1];
  const gs = [
    [0.2, -0.1, 0.05],
    [0.1, 0.3, -0.2],
    [-0.4, 0.0, 0.1],
    [0.05, 0.05, 0.05],
  ];
  const w = variable(p0);
  const opt = new AdamW(new Map([['w', w]]), { lr: o.lr, beta1: o.b1, beta2: o.b2, eps: o.eps, weightDecay: o.wd });
  for (const g of gs) {
    const m = grads({ w: g });
    opt.applyGradients(m);
    tf.dispose([...m.values()]);
  }
  expectClose(w.dataSync(), reference(p0, gs, o), 1e-5);
  opt.dispose();
  w.dispose();
});

test('no-decay group by name and shape (RAR rule); frozen and gradient-less parameters are untouched', () => {
  const params = new Map([
    ['blocks.0.attn.qkv.weight', variable([1, 1, 1, 1], [2, 2])],
    ['blocks.0.attn.qkv.bias', variable([1, 1])],
    ['pos_embed', variable([1, 1, 1, 1], [1, 2, 2])],
    ['blocks.0.norm1.weight', variable([1, 1])],
    ['frozen.weight', variable([1, 1, 1, 1], [2, 2])],
  ]);
  params.get('frozen.weight')!.trainable = false;
  const opt = new AdamW(params, { lr: 0.1, weightDecay: 0.5, noDecay: noDecayByNameAndShape() });
  assert.deepEqual(opt.decayedNames(), ['blocks.0.attn.qkv.weight', 'frozen.weight']);
  const zeros = new Map([...params].filter(([n]) => n !== 'blocks.0.norm1.weight').map(([n, v]) => [n, tf.zerosLike(v)]));
  opt.applyGradients(zeros);
  expectClose(params.get('blocks.0.attn.qkv.weight')!.dataSync(), [0.95, 0.95, 0.95, 0.95], 1e-7, 'decayed');
  for (const n of ['blocks.0.attn.qkv.bias', 'pos_embed', 'blocks.0.norm1.weight', 'frozen.weight']) {
    assert.ok(
      Array.from(params.get(n)!.dataSync()).every((x) => x === 1),
      `${n} unchanged`,
    );
  }
  tf.dispose([...zeros.values()]);
  const bad = grads({ nope: [1] });
  assert.throws(() => opt.applyGradients(bad), /unknown parameter/);
  tf.dispose([...bad.values()]);
  opt.dispose();
  params.forEach((v) => v.dispose());
});

test('saving and restoring the optimizer state gives an identical continuation', () => {
  const gs = [
    [0.2, -0.1],
    [0.1, 0.3],
    [-0.4, 0.2],
    [0.3, 0.3],
    [0.0, -0.5],
  ];
  const run = (w: tf.Variable, opt: AdamW, from: number, to: number) => {
    for (let k = from; k < to; k++) {
      const m = grads({ w: gs[k]! });
      opt.applyGradients(m, 0.05 * (k + 1));
      tf.dispose([...m.values()]);
    }
  };
  const wa = variable([1, 2]);
  const a = new AdamW(new Map([['w', wa]]), { lr: 0.05 });
  run(wa, a, 0, 3);
  const saved = {
    state: JSON.parse(JSON.stringify(a.getState())) as { step: number },
    tensors: new Map([...a.stateTensors()].map(([k, t]) => [k, t.clone()])),
    w: wa.dataSync().slice(),
  };
  assert.deepEqual([...saved.tensors.keys()].sort(), ['exp_avg.w', 'exp_avg_sq.w']);
  run(wa, a, 3, 5);
  const wb = variable(Array.from(saved.w));
  const b = new AdamW(new Map([['w', wb]]), { lr: 0.05 });
  b.loadState(saved.state, saved.tensors);
  run(wb, b, 3, 5);
  assert.deepEqual(wb.dataSync(), wa.dataSync());
  const badShape = new Map([['exp_avg.w', tf.zeros([3])]]);
  assert.throws(() => b.loadState({ step: 1 }, badShape), { code: 'CHECKPOINT_MISMATCH' });
  tf.dispose([...saved.tensors.values(), ...badShape.values()]);
  [a, b].forEach((o) => o.dispose());
  [wa, wb].forEach((v) => v.dispose());
});
