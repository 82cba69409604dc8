/**
 * Our op library (compute/native-ops.ts, native/robustok-ops/*.cc) on tfjs-node: the GELU kernels against
 * the tfjs path on the cpu backend (forward and gradient), finite differences, the same values inside a
 * deferred graph as eagerly, no leaks, and the switch; the AdamW kernel bit-identical to the tfjs update
 * (decayed and undecayed groups, with and without clipping, eagerly and in graphs). Skipped without tfjs-node; under CI
 * (ROBUSTOK_REQUIRE_NATIVE_TF=1) a native backend without the library fails instead, since
 * infra/native-tensorflow.sh builds it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { backendInfo } from '../../../../compute/backend';
import { deferredStats, withDeferredExecution } from '../../../../compute/deferred-execution';
import { REQUIRED_OPS, missingOps, nativeOpsBackend, nativeOpsStatus, nativeOpsWanted, setNativeOps } from '../../../../compute/native-ops';
import { gelu } from '../../../../models/layers/activations';
import { Attention } from '../../../../models/layers/attention';
import { LayerNorm } from '../../../../models/layers/layer-norm';
import { linear } from '../../../../models/layers/linear';
import { residualBranch } from '../../../../models/layers/residual-branch';
import { dropoutMask } from '../../../../models/layers/dropout';
import { setNativePhilox } from '../../../../models/layers/philox-uniform';
import { AdamW, noDecayByNameAndShape } from '../../../../models/training/adamw';
import { Rng } from '../../../../models/training/rng';
import { setNativeFused } from '../../../../models/layers/native-fused';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { useNativeBackend } from '../../../helpers/native-backend';
import { gradCheck, randVar } from './gradcheck';

let native = false;
let loaded = false;
let previous: string | undefined;

before(async () => {
  previous = tf.getBackend();
  native = await useNativeBackend();
  loaded = native && nativeOpsStatus()?.loaded === true;
});

after(async () => {
  setNativeOps(undefined);
  if (previous) await tf.setBackend(previous);
});

function skipWhy(): string | null {
  if (!native) return 'tfjs-node not available';
  if (!loaded) {
    const why = `op library not loaded: ${nativeOpsStatus()?.detail ?? 'never tried'}`;
    if (process.env.ROBUSTOK_REQUIRE_NATIVE_TF === '1') assert.fail(`${why} (CI builds it with infra/native-tensorflow.sh)`);
    return why;
  }
  return null;
}

/** Runs `step` eagerly, then under withDeferredExecution until it has run as graphs: the same values, bit for bit. */
function expectGraphEqualsEager<T>(step: () => T): void {
  const eager = step();
  const runs0 = deferredStats()?.graphRuns ?? 0;
  for (let s = 0; s < 4; s++) assert.deepEqual(withDeferredExecution(step), eager, `deferred step ${s}`);
  assert.ok((deferredStats()?.graphRuns ?? 0) > runs0, 'the steps ran as graphs');
}

/** GELU's forward and the gradient of Σ gelu(x) ⊙ dy, as arrays. */
function forwardAndGrad(x: tf.Tensor, dy: tf.Tensor): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const y = gelu(x);
    const g = tf.grad((v: tf.Tensor) => gelu(v).mul(dy).sum())(x);
    return [y.dataSync() as Float32Array, g.dataSync() as Float32Array];
  });
}

test('the backend record names the op library variant, and the library registered its ops', (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  assert.match(backendInfo().nativeOps ?? '', /^avx2?$/);
  assert.deepEqual([...(nativeOpsStatus()?.ops ?? [])].sort(), [...REQUIRED_OPS].sort(), 'the build registers exactly the ops the layers call');
  assert.deepEqual(missingOps(nativeOpsStatus()?.ops ?? []), []);
  // a build from older sources (say, before the attention op) is refused by name, not used until a step fails
  assert.deepEqual(missingOps(REQUIRED_OPS.filter((op) => !op.startsWith('RobustokAttention'))), [
    'RobustokAttentionScoresGrad',
    'RobustokAttentionScoresGradMasked',
  ]);
});

test('RobustokGelu/RobustokGeluGrad: forward and gradient equal the tfjs path on the cpu backend, over both tails', async (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  const xs = tf.linspace(-12, 12, 6001).dataSync() as Float32Array; // both tails: 1 + erf underflows or rounds to 2
  const dys = tf.tidy(() => tf.sin(tf.tensor1d(xs).mul(3)).dataSync() as Float32Array);
  const [y, g] = await expectNoTensorLeak(() => {
    const x = tf.tensor1d(xs);
    const dy = tf.tensor1d(dys);
    assert.ok(nativeOpsBackend(x), 'the op path is taken');
    const out = forwardAndGrad(x, dy);
    tf.dispose([x, dy]);
    return out;
  });
  await tf.setBackend('cpu');
  try {
    const x = tf.tensor1d(xs);
    const dy = tf.tensor1d(dys);
    const [yc, gc] = forwardAndGrad(x, dy);
    tf.dispose([x, dy]);
    expectClose(y, yc, 2e-7, 'forward vs cpu');
    expectClose(g, gc, 2e-7, 'gradient vs cpu');
  } finally {
    await tf.setBackend('tensorflow');
  }
  // a 3-D activation as the MLP hands it over, and finite differences of the op's own forward
  await expectNoTensorLeak(() => {
    const v = randVar([2, 5, 17], 21, 3);
    gradCheck(() => gelu(v), new Map([['x', v]]));
    v.dispose();
  });
});

test('inside a deferred graph the ops give the eager values bit for bit', (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  const x = tf.tidy(() => tf.randomNormal([64, 96], 0, 2, 'float32', 5));
  const dy = tf.tidy(() => tf.randomNormal([64, 96], 0, 1, 'float32', 6));
  // enough other ops around the GELU that the executor builds a graph rather than replaying eagerly
  const step = () =>
    tf.tidy(() => {
      const h = x.mul(1.5).add(0.25);
      const { value, grads } = tf.variableGrads(() => gelu(h.mul(w)).mul(dy).sum<tf.Scalar>(), [w]);
      return [value.dataSync()[0] as number, ...Array.from(grads[w.name]!.dataSync())];
    });
  const w = tf.variable(tf.ones([96]), true, 'native-ops-test-w');
  expectGraphEqualsEager(step);
  tf.dispose([x, dy, w]);
});

test('setNativeOps(false) (and ROBUSTOK_NATIVE_OPS=off) send gelu back to TensorFlow kernels', (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  const x = tf.tensor1d([-1, 0.5, 2]);
  setNativeOps(false);
  setNativeFused(false);
  try {
    assert.equal(nativeOpsBackend(x), undefined);
    const y = tf.tidy(() => Array.from(gelu(x).dataSync()));
    expectClose(y, [-0.15865525393145707, 0.34573123063700656, 1.9544997361036416], 1e-6, 'tfjs path');
  } finally {
    setNativeOps(undefined);
    setNativeFused(undefined);
  }
  assert.ok(nativeOpsBackend(x), 'on again');
  x.dispose();
});

const SHAPES: Record<string, number[]> = { 'blk.w': [6, 5], 'blk.bias': [5], 'ln.weight': [7], 'head.w': [5, 3, 2], frozen: [4] };

/** Parameters (two flat groups: decayed and not; one frozen) and an optimizer over them. */
function model(seed: number): { params: Map<string, tf.Variable>; opt: AdamW } {
  const rng = Rng.fromSeed(seed);
  const params = new Map(
    Object.entries(SHAPES).map(([n, sh]) => [
      n,
      tf.variable(tf.tensor(rng.fillNormal(new Float32Array(sh.reduce((a, b) => a * b, 1)), 0, 1), sh), n !== 'frozen'),
    ]),
  );
  return { params, opt: new AdamW(params, { lr: 0.05, beta2: 0.95, weightDecay: 0.1, noDecay: noDecayByNameAndShape() }) };
}

test('RobustokAdamW: parameters and moments bit-identical to the tfjs update over 5 steps, clipped and not, eager and in graphs', (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  const off = model(7);
  const on = model(7);
  const gradRng = Rng.fromSeed(11);
  const values = (m: { params: Map<string, tf.Variable>; opt: AdamW }) => [
    ...[...m.params.values()].map((v) => Array.from(v.dataSync())),
    ...[...m.opt.stateTensors().values()].map((s) => Array.from(s.dataSync())),
  ];
  let live = 0;
  for (let k = 0; k < 5; k++) {
    const grads = new Map(
      Object.entries(SHAPES).map(([n, sh]) => [n, tf.tensor(gradRng.fillNormal(new Float32Array(sh.reduce((a, b) => a * b, 1)), 0, 3), sh)]),
    );
    const lr = 0.05 * (k + 1);
    // even steps clip (the norm is ~15, far over 1), odd steps do not; steps 3 and 4 run under the executor
    const apply = (opt: AdamW) => {
      const norm = k % 2 === 0 ? opt.applyClippedGradients(grads, 1, lr) : (opt.applyGradients(grads, lr), null);
      norm?.dispose();
    };
    setNativeOps(false);
    try {
      apply(off.opt);
    } finally {
      setNativeOps(undefined);
    }
    if (k >= 3) withDeferredExecution(() => apply(on.opt));
    else apply(on.opt);
    tf.dispose([...grads.values()]);
    assert.deepEqual(values(on), values(off), `step ${k}`);
    if (k === 0) live = tf.memory().numTensors; // the moments exist from the first step on
  }
  assert.equal(tf.memory().numTensors, live, 'no tensor left behind by steps 1-4');
  for (const m of [off, on]) {
    m.opt.dispose();
    tf.dispose([...m.params.values()]);
  }
});

/** y and the gradients of Σ LayerNorm(x) ⊙ dy w.r.t. x, weight and bias, as arrays. */
function layerNormAll(ln: LayerNorm, x: tf.Tensor, dy: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const y = ln.forward(x);
    const { grads } = tf.variableGrads(() => ln.forward(x).mul(dy).sum<tf.Scalar>(), [ln.weight!, ln.bias!]);
    const dx = tf.grad((v: tf.Tensor) => ln.forward(v).mul(dy).sum())(x);
    return [y, dx, grads[ln.weight!.name]!, grads[ln.bias!.name]!].map((t) => t.dataSync() as Float32Array);
  });
}

test('RobustokLayerNorm/Grad: y, dx, dw, db equal the tfjs path on the cpu backend (2-D to 4-D, rows not a multiple of the block)', async (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  for (const [shape, eps] of [
    [[130, 64], 1e-6],
    [[3, 43, 96], 1e-5],
    [[2, 4, 33, 32], 1e-6], // QK-norm's [B, nh, T, hs]
  ] as const) {
    const d = shape[shape.length - 1]!;
    const n = shape.reduce((a, b) => a * b, 1);
    const xs = randomValues(n, 31, 2);
    for (let i = 0; i < n; i += 7) xs[i] = (xs[i] as number) + 5; // an offset mean, where a one-pass variance would lose digits
    const dys = randomValues(n, 32);
    const ws = randomValues(d, 33);
    const bs = randomValues(d, 34);
    const run = () => {
      const ln = new LayerNorm({ dim: d, eps });
      tf.tidy(() => {
        ln.weight!.assign(tf.tensor1d(ws));
        ln.bias!.assign(tf.tensor1d(bs));
      });
      const x = tf.tensor(xs, [...shape]);
      const dy = tf.tensor(dys, [...shape]);
      const out = layerNormAll(ln, x, dy);
      tf.dispose([x, dy, ln.weight!, ln.bias!]);
      return out;
    };
    const ours = await expectNoTensorLeak(run);
    await tf.setBackend('cpu');
    let ref: Float32Array[];
    try {
      ref = run();
    } finally {
      await tf.setBackend('tensorflow');
    }
    ['y', 'dx', 'dw', 'db'].forEach((label, i) => expectClose(ours[i]!, ref[i]!, 1e-6, `${label} at [${shape.join(', ')}]`));
  }
  // finite differences of the op's own forward
  await expectNoTensorLeak(() => {
    const ln = new LayerNorm({ dim: 17 });
    const v = randVar([5, 17], 35, 2);
    gradCheck(
      () => ln.forward(v),
      new Map<string, tf.Variable>([
        ['x', v],
        ['w', ln.weight!],
        ['b', ln.bias!],
      ]),
    );
    tf.dispose([v, ln.weight!, ln.bias!]);
  });
});

test('RobustokMatMulBias (linear): y, dx, dw, db equal the cpu backend; the gradient computes only what autodiff asks for; graphs give the eager values', async (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  for (const [n, k, m] of [
    [130, 64, 192],
    [1, 33, 17], // a single row: TensorFlow's product takes its matrix-vector path there
    [37, 1024, 24],
  ] as const) {
    const xs = randomValues(n * k, 41);
    const ws = randomValues(m * k, 42, 0.1);
    const bs = randomValues(m, 43);
    const dys = randomValues(n * m, 44);
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor2d(xs, [n, k]);
        const w = tf.tensor2d(ws, [m, k]);
        const b = tf.tensor1d(bs);
        const dy = tf.tensor2d(dys, [n, m]);
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => linear(xx, ww, bb).mul(dy).sum();
        const grads = tf.grads(f)([x, w, b]);
        return [linear(x, w, b), ...grads].map((g) => g.dataSync() as Float32Array);
      });
    const ours = await expectNoTensorLeak(run);
    await tf.setBackend('cpu');
    let ref: Float32Array[];
    try {
      ref = run();
    } finally {
      await tf.setBackend('tensorflow');
    }
    ['y', 'dx', 'dw', 'db'].forEach((label, i) => expectClose(ours[i]!, ref[i]!, 1e-5, `${label} at [${n}, ${k}] -> ${m}`));
  }
  // the op ran (not the matMul + BiasAdd fallback), and a gradient for w and b alone runs one product, not two
  const kernels = async (fn: () => tf.Tensor | tf.Tensor[]) => (await tf.profile(() => fn())).kernels.map((k) => k.name);
  const x = tf.randomNormal([8, 6], 0, 1, 'float32', 1);
  const w = tf.variable(tf.randomNormal([5, 6], 0, 1, 'float32', 2));
  const b = tf.variable(tf.zeros([5]));
  try {
    const fwd = await kernels(() => linear(x, w, b));
    assert.ok(fwd.includes('RobustokMatMulBias') && !fwd.includes('BiasAdd'), `forward kernels: ${fwd.join(', ')}`);
    const bwd = await kernels(() => {
      const { value, grads } = tf.variableGrads(() => linear(x, w, b).sum(), [w, b]);
      return [value, ...Object.values(grads)];
    });
    assert.equal(bwd.filter((k) => k === 'BatchMatMul').length, 1, `backward kernels: ${bwd.join(', ')}`);
    // graph-run steps equal eager ones bit for bit
    const step = () =>
      tf.tidy(() =>
        tf
          .grads((xx: tf.Tensor, ww: tf.Tensor) => linear(xx, ww, b).square().sum())([x, w])
          .map((g) => Array.from(g.dataSync())),
      );
    expectGraphEqualsEager(step);
  } finally {
    tf.dispose([x, w, b]);
  }
});

test('RobustokResidualBranch: y and da bit-identical to the separate ops, dγ within rounding, with or without γ and drop-path', async (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  const [B, T, d] = [5, 7, 24];
  const xs = randomValues(B * T * d, 51);
  const as = randomValues(B * T * d, 52);
  const dys = randomValues(B * T * d, 53);
  const gs = randomValues(d, 54, 0.1);
  const scale = Float32Array.from([1 / 0.9, 0, 1 / 0.9, 1 / 0.9, 0]);
  for (const [withGamma, withScale] of [
    [true, true],
    [true, false],
    [false, true],
  ] as const) {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor3d(xs, [B, T, d]);
        const a = tf.tensor3d(as, [B, T, d]);
        const g = tf.tensor1d(gs);
        const dy = tf.tensor3d(dys, [B, T, d]);
        const f = (xx: tf.Tensor, aa: tf.Tensor, gg?: tf.Tensor) =>
          residualBranch(xx, aa, gg, withScale ? scale : undefined)
            .mul(dy)
            .sum();
        const grads = withGamma ? tf.grads(f)([x, a, g]) : tf.grads(f)([x, a]);
        const y = residualBranch(x, a, withGamma ? g : undefined, withScale ? scale : undefined);
        return [y, ...grads].map((v) => v.dataSync() as Float32Array);
      });
    const label = `γ ${withGamma}, drop-path ${withScale}`;
    const ours = await expectNoTensorLeak(run);
    setNativeOps(false);
    let ops: Float32Array[];
    try {
      ops = run();
    } finally {
      setNativeOps(undefined);
    }
    assert.deepEqual(ours[0], ops[0], `y (${label})`);
    assert.deepEqual(ours[1], ops[1], `dx (${label})`);
    assert.deepEqual(ours[2], ops[2], `da (${label})`);
    if (withGamma) expectClose(ours[3]!, ops[3]!, 1e-6, `dγ (${label})`);
  }
  // the kernel ran, and graph-run steps equal eager ones bit for bit
  const x = tf.randomNormal([B, T, d], 0, 1, 'float32', 5);
  const a = tf.variable(tf.randomNormal([B, T, d], 0, 1, 'float32', 6));
  const g = tf.variable(tf.randomNormal([d], 0, 0.1, 'float32', 7));
  try {
    const names = (await tf.profile(() => residualBranch(x, a, g, scale))).kernels.map((k) => k.name);
    assert.ok(names.includes('RobustokResidualBranch') && !names.includes('Mul'), `kernels: ${names.join(', ')}`);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => residualBranch(x, a, g, scale).square().sum(), [a, g]);
        return [value, ...Object.values(grads)].map((v) => Array.from(v.dataSync()));
      });
    expectGraphEqualsEager(step);
  } finally {
    tf.dispose([x, a, g]);
  }
});

test('RobustokDropoutMask equals the StatelessRandomUniform mask and the JavaScript port element for element', async (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  // big enough that the op splits the groups over threads; sizes not a multiple of 4; several stream words
  for (const [shape, p, seed] of [
    [[2, 3, 65, 65], 0.1, 1],
    [[7], 0.5, 2],
    [[32, 4, 64, 64], 0.25, 3],
    [[5, 13], 0.9, 4],
  ] as const) {
    const draw = (mode: 'op' | 'tf' | 'port') => {
      setNativeOps(mode === 'op');
      setNativePhilox(mode !== 'port');
      try {
        const rng = Rng.fromSeed(seed);
        return tf.tidy(() => [0, 1, 2].map(() => dropoutMask([...shape], p, rng).dataSync() as Float32Array));
      } finally {
        setNativeOps(undefined);
        setNativePhilox(true);
      }
    };
    const op = await expectNoTensorLeak(() => draw('op'));
    const viaTf = draw('tf');
    const port = draw('port');
    op.forEach((m, i) => {
      assert.ok(
        m.every((v, j) => v === viaTf[i]![j] && v === port[i]![j]),
        `[${shape.join(', ')}] p ${p} draw ${i}: masks differ`,
      );
    });
    const kept = op[0]!.filter((v) => v !== 0).length / op[0]!.length;
    if (op[0]!.length > 1000) assert.ok(Math.abs(kept - (1 - p)) < 0.02, `kept ${kept}, want ${1 - p}`);
  }
});

/** Loss and gradients (x, then the parameters) of one attention call; `attnDrop` > 0 adds probability dropout. */
function attentionGrads(causal: boolean, attnDrop: number): Float32Array[] {
  const a = new Attention({ dim: 24, numHeads: 3, rng: Rng.fromSeed(5) });
  const x0 = tf.tensor(randomValues(2 * 37 * 24, 6, 2), [2, 37, 24]);
  const x = tf.variable(x0); // a copy
  x0.dispose();
  const params = [x, ...a.parameters().values()];
  const dropout = attnDrop > 0 ? { attn: attnDrop, proj: 0, rng: Rng.fromSeed(11) } : undefined;
  const { value, grads } = tf.variableGrads(() => a.forward(x, { causal, dropout }).square().sum(), params);
  const out = [value.dataSync() as Float32Array, ...params.map((q) => grads[q.name]!.dataSync() as Float32Array)];
  tf.dispose([value, ...Object.values(grads), x]);
  a.dispose();
  return out;
}

test('RobustokAttentionScoresGrad(Masked): attention gradients equal the cpu backend, causal or not, with and without dropout', async (t) => {
  const why = skipWhy();
  if (why) return t.skip(why);
  for (const [causal, drop] of [
    [false, 0],
    [true, 0],
    [true, 0.3],
  ] as const) {
    const native = await expectNoTensorLeak(() => attentionGrads(causal, drop));
    await tf.setBackend('cpu');
    let cpu: Float32Array[];
    try {
      cpu = attentionGrads(causal, drop);
    } finally {
      await tf.setBackend('tensorflow');
    }
    native.forEach((g, i) => expectClose(g, cpu[i]!, 1e-5, `${causal ? 'causal' : 'full'}, dropout ${drop}: ${i === 0 ? 'loss' : `gradient ${i}`}`));
  }
});

test('ROBUSTOK_NATIVE_OPS takes on or off; anything else is CONFIG_INVALID naming the choices', () => {
  assert.equal(nativeOpsWanted({}), true);
  assert.equal(nativeOpsWanted({ ROBUSTOK_NATIVE_OPS: 'off' }), false);
  assert.equal(nativeOpsWanted({ ROBUSTOK_NATIVE_OPS: ' on ' }), true);
  assert.throws(
    () => nativeOpsWanted({ ROBUSTOK_NATIVE_OPS: 'yes' }),
    (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /on or off, got "yes"/.test(e.message),
  );
});
