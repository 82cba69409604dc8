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

test('flat groups update exactly as parameter by parameter: mixed decay, a gradient appearing late, a frozen parameter, a restore in between', async () => {
  const shapes: Record<string, number[]> = { 'a.weight': [3, 4], 'a.bias': [4], 'b.weight': [2, 3], 'c.norm.weight': [5], late: [2, 2] };
  const init = (seed: number) =>
    new Map(
      Object.entries(shapes).map(([n, s]) => [
        n,
        variable(
          Array.from({ length: s.reduce((x, y) => x * y, 1) }, (_, i) => Math.sin(seed + i) * 0.5),
          s,
        ),
      ]),
    );
  const gradAt = (k: number, names: string[]) =>
    new Map(
      names.map((n) => [
        n,
        tf.tensor(
          Array.from({ length: shapes[n]!.reduce((x, y) => x * y, 1) }, (_, i) => Math.cos(k * 7 + i * 1.3) * 0.1),
          shapes[n],
        ),
      ]),
    );
  const o = { lr: 0.01, beta1: 0.9, beta2: 0.95, weightDecay: 0.05, noDecay: noDecayByNameAndShape() };
  const schedule = (k: number) => (k < 2 ? ['a.weight', 'a.bias', 'b.weight', 'c.norm.weight'] : Object.keys(shapes)); // `late` from step 3

  // the per-parameter form, written out (what AdamW computed before flat groups)
  const ref = init(1);
  const m = new Map<string, tf.Tensor>();
  const v = new Map<string, tf.Tensor>();
  for (let k = 0; k < 5; k++) {
    const t = k + 1;
    const lr = o.lr * (k + 1);
    const g = gradAt(k, schedule(k));
    for (const [n, gi] of g) {
      const p = ref.get(n)!;
      const wd = o.noDecay(n, p.shape) ? 0 : o.weightDecay;
      const [nm, nv, np] = tf.tidy((): [tf.Tensor, tf.Tensor, tf.Tensor] => {
        const nm = (m.get(n) ?? tf.zerosLike(p)).mul(o.beta1).add(gi.mul(1 - o.beta1));
        const nv = (v.get(n) ?? tf.zerosLike(p)).mul(o.beta2).add(gi.square().mul(1 - o.beta2));
        const decayed = wd === 0 ? p : p.mul(1 - lr * wd);
        const denom = nv
          .sqrt()
          .div(Math.sqrt(1 - o.beta2 ** t))
          .add(1e-8);
        return [nm, nv, decayed.sub(nm.div(denom).mul(lr / (1 - o.beta1 ** t)))];
      });
      m.get(n)?.dispose();
      v.get(n)?.dispose();
      m.set(n, nm);
      v.set(n, nv);
      p.assign(np);
      np.dispose();
    }
    tf.dispose([...g.values()]);
  }

  const ours = init(1);
  let opt = new AdamW(ours, o);
  for (let k = 0; k < 5; k++) {
    if (k === 3) {
      // checkpoint and restore into a fresh optimizer mid-run
      const saved = new Map([...opt.stateTensors()].map(([n, t]) => [n, t.clone()]));
      const step = opt.getState();
      opt.dispose();
      opt = new AdamW(ours, o);
      opt.loadState(step, saved);
      tf.dispose([...saved.values()]);
    }
    const g = gradAt(k, schedule(k));
    opt.applyGradients(g, o.lr * (k + 1));
    tf.dispose([...g.values()]);
  }
  for (const n of Object.keys(shapes)) assert.deepEqual(ours.get(n)!.dataSync(), ref.get(n)!.dataSync(), n);
  const state = opt.stateTensors();
  for (const n of Object.keys(shapes)) {
    assert.deepEqual(state.get(`exp_avg.${n}`)!.dataSync(), m.get(n)!.dataSync(), `exp_avg.${n}`);
    assert.deepEqual(state.get(`exp_avg_sq.${n}`)!.dataSync(), v.get(n)!.dataSync(), `exp_avg_sq.${n}`);
    assert.deepEqual(state.get(`exp_avg.${n}`)!.shape, shapes[n]);
  }

  // a frozen parameter is skipped by the flat groups as well (its moments are parked, not lost), and
  // steps and relayouts leave no tensor behind
  const step = (k: number) => {
    const g = gradAt(k, Object.keys(shapes));
    opt.applyGradients(g);
    tf.dispose([...g.values()]);
  };
  const frozen = ours.get('a.bias')!;
  frozen.trainable = false;
  const before = frozen.dataSync().slice();
  step(9); // relayout without a.bias
  await expectNoTensorLeak(() => step(10));
  assert.deepEqual(frozen.dataSync(), before);
  frozen.trainable = true;
  // relayout with a.bias again: its two parked moment tensors join the flat groups
  await expectNoTensorLeak(() => step(11), { allowed: -2 });
  assert.notDeepEqual(frozen.dataSync(), before);
  opt.dispose();
  tf.dispose([...m.values(), ...v.values()]);
  [...ref.values(), ...ours.values()].forEach((x) => x.dispose());
});
