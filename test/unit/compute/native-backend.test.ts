/**
 * The native TensorFlow backend (@tensorflow/tfjs-node built against the PyPI tensorflow-cpu
 * libraries by infra/native-tensorflow.sh) computes what the reference cpu backend computes.
 *
 * tfjs-node is optional: without it every test here is skipped, and says how to install it. It is
 * required, so a load failure fails instead of skipping, when ROBUSTOK_REQUIRE_NATIVE_TF=1 (CI sets
 * it after running the script) or when the script's stamp says it was installed here.
 *
 * Each test builds its inputs from plain arrays, runs the same function on 'cpu' and on 'tensorflow'
 * and compares the downloaded values, so nothing depends on moving tensors between backends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expectClose, expectNoTensorLeak, randomValues } from '../../helpers/tensors';

const requireHere = createRequire(__filename);
const INSTALL_HINT = 'native backend not installed: run `bash infra/native-tensorflow.sh`';

/** The part of @tensorflow/tfjs-node this test touches (typed here so typecheck passes without it). */
interface TfjsNode {
  getBackend(): string;
  engine(): unknown;
  version: Record<string, string>;
}

function loadNative(): { node: TfjsNode } | { skip: string } {
  let pkgJson: string;
  try {
    pkgJson = requireHere.resolve('@tensorflow/tfjs-node/package.json');
  } catch {
    if (process.env.ROBUSTOK_REQUIRE_NATIVE_TF === '1') {
      throw new Error(`ROBUSTOK_REQUIRE_NATIVE_TF=1 but @tensorflow/tfjs-node is not installed: run bash infra/native-tensorflow.sh`);
    }
    return { skip: INSTALL_HINT };
  }
  const stamped = existsSync(path.join(path.dirname(pkgJson), 'deps', 'robustok-native-tf.json'));
  try {
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2'; // TensorFlow's start-up banner is noise in test output
    return { node: requireHere('@tensorflow/tfjs-node') as TfjsNode };
  } catch (e) {
    if (stamped || process.env.ROBUSTOK_REQUIRE_NATIVE_TF === '1') throw e;
    return { skip: `@tensorflow/tfjs-node is present but does not load (${String(e).split('\n')[0]}); run bash infra/native-tensorflow.sh` };
  }
}

const loaded = loadNative();
const skip = 'skip' in loaded ? loaded.skip : false;

type Inputs = Record<string, { shape: number[]; values: Float32Array }>;

function input(shape: number[], seed: number, scale = 1): { shape: number[]; values: Float32Array } {
  return {
    shape,
    values: randomValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
      scale,
    ),
  };
}

/** Runs `fn` on a backend with fresh tensors made from `inputs`; returns every output's values. */
async function runOn(backend: string, inputs: Inputs, fn: (t: Record<string, tf.Tensor>) => tf.Tensor[]): Promise<Float32Array[]> {
  assert.ok(await tf.setBackend(backend), `setBackend(${backend})`);
  return expectNoTensorLeak(
    async () => {
      const ts = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, tf.tensor(v.values, v.shape)]));
      const outs = tf.tidy(() => fn(ts));
      const values = await Promise.all(outs.map(async (o) => Float32Array.from(await o.data())));
      tf.dispose([...outs, ...Object.values(ts)]);
      return values;
    },
    { label: `${backend} backend` },
  );
}

async function sameOnBoth(inputs: Inputs, fn: (t: Record<string, tf.Tensor>) => tf.Tensor[], tol = 1e-4, label = 'output'): Promise<void> {
  const ref = await runOn('cpu', inputs, fn);
  const got = await runOn('tensorflow', inputs, fn);
  assert.equal(got.length, ref.length);
  ref.forEach((r, i) => expectClose(got[i] as Float32Array, r, tol, `${label} ${i}`));
}

test('tfjs-node loads as the "tensorflow" backend on the project\'s tfjs engine', { skip }, () => {
  if (!('node' in loaded)) return;
  const node = loaded.node;
  assert.equal(node.getBackend(), 'tensorflow');
  assert.equal(node.engine(), tf.engine(), "tfjs-node must share the project's @tensorflow/tfjs-core");
  assert.equal(node.version['tfjs-node'], tf.version.tfjs, 'tfjs-node and @tensorflow/tfjs versions must match');
  const binding = (tf.findBackend('tensorflow') as unknown as { binding: { TF_Version: string } }).binding;
  assert.match(binding.TF_Version, /^2\.\d+\.\d+/);
});

test('matMul (incl. transposed operands) matches the cpu backend', { skip }, async () => {
  await sameOnBoth(
    { a: input([33, 70], 1), b: input([70, 47], 2), c: input([47, 70], 3) },
    ({ a, b, c }) => [tf.matMul(a!, b!), tf.matMul(a!, c!, false, true), tf.matMul(b!, a!, true, true)],
    1e-4,
    'matMul',
  );
});

test('conv2d forward and both gradients match the cpu backend (same/valid, stride 1/2)', { skip }, async () => {
  const inputs = { x: input([2, 9, 11, 3], 4), w: input([3, 3, 3, 5], 5, 0.5) };
  for (const [stride, pad] of [
    [1, 'same'],
    [2, 'same'],
    [1, 'valid'],
    [2, 'valid'],
  ] as const) {
    await sameOnBoth(
      inputs,
      ({ x, w }) => {
        const f = (xx: tf.Tensor, ww: tf.Tensor) =>
          tf
            .conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, stride, pad)
            .square()
            .sum();
        const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
        const [dx, dw] = tf.grads(f)([x!, w!]);
        return [y, dx!, dw!];
      },
      1e-4,
      `conv2d stride=${stride} pad=${pad}`,
    );
  }
});

test('a small conv net training step (conv, pool, dense, softmax cross-entropy, Adam) matches the cpu backend', { skip }, async () => {
  const inputs = {
    x: input([4, 8, 8, 2], 6),
    w1: input([3, 3, 2, 4], 7, 0.4),
    w2: input([4 * 4 * 4, 3], 8, 0.2),
    labels: { shape: [4, 3], values: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]) },
  };
  await sameOnBoth(
    inputs,
    ({ x, w1, w2, labels }) => {
      const v1 = tf.variable(w1!);
      const v2 = tf.variable(w2!);
      const opt = tf.train.adam(0.01);
      const loss = () => {
        const h = tf.relu(tf.conv2d(x as tf.Tensor4D, v1 as tf.Tensor4D, 1, 'same'));
        const p = tf.avgPool(h, 2, 2, 'valid').reshape([4, -1]);
        return tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(labels!, tf.matMul(p, v2));
      };
      const losses: tf.Tensor[] = [];
      for (let i = 0; i < 3; i++) losses.push(opt.minimize(loss, true)!);
      const out = [...losses, v1.clone(), v2.clone()];
      opt.dispose();
      v1.dispose();
      v2.dispose();
      return out;
    },
    1e-4,
    'training step',
  );
});

test('elementwise ops, reductions, maxPool and its gradient match the cpu backend', { skip }, async () => {
  await sameOnBoth(
    { x: input([2, 6, 6, 3], 9, 3) },
    ({ x }) => [
      tf.sigmoid(x!),
      tf.tanh(x!),
      tf.softmax(x!.reshape([12, 18])),
      tf.mean(x!, [1, 2]),
      tf.max(x!, -1),
      tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'),
      tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 3, 1, 'same').sum())(x!),
      tf.image.resizeBilinear(x as tf.Tensor4D, [9, 9]),
    ],
    1e-4,
    'op',
  );
});
