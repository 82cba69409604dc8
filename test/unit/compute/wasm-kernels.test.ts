/**
 * Every wasm kernel we register or override agrees with tfjs's reference cpu backend (relative error
 * < 1e-4) on seeded random shapes, covers the layouts models hit (transposed operands, broadcast
 * batches, strides, padding, NCHW), and leaves no tensor behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { reduceTranspose } from '../../../compute/wasm-kernels/transpose';
import { expectClose, expectNoTensorLeak, randomValues } from '../../helpers/tensors';

type Inputs = Record<string, { shape: number[]; values?: Float32Array | Int32Array; dtype?: 'float32' | 'int32' }>;

/** Runs one kernel (through the engine, as ops do) on a backend and returns its output values. */
async function runOn(
  backend: 'cpu' | 'wasm',
  kernel: string,
  inputs: Inputs,
  attrs: Record<string, unknown>,
): Promise<{ shape: number[]; values: Float32Array }> {
  await tf.setBackend(backend);
  return expectNoTensorLeak(
    () => {
      const ts: Record<string, tf.Tensor> = {};
      for (const [k, v] of Object.entries(inputs))
        ts[k] = tf.tensor(
          v.values ??
            randomValues(
              v.shape.reduce((a, b) => a * b, 1),
              1,
            ),
          v.shape,
          v.dtype ?? 'float32',
        );
      const out = tf.engine().runKernel<tf.Tensor>(kernel, ts, attrs as tf.NamedAttrMap);
      const res = { shape: out.shape, values: Float32Array.from(out.dataSync()) };
      out.dispose();
      for (const t of Object.values(ts)) t.dispose();
      return res;
    },
    { label: `${kernel} on ${backend}` },
  );
}

async function agree(kernel: string, inputs: Inputs, attrs: Record<string, unknown>, label: string): Promise<void> {
  // Fix the input values once so both backends see the same numbers.
  let seed = 7;
  for (const v of Object.values(inputs))
    v.values ??= randomValues(
      v.shape.reduce((a, b) => a * b, 1),
      seed++,
    );
  const ref = await runOn('cpu', kernel, inputs, attrs);
  const got = await runOn('wasm', kernel, inputs, attrs);
  assert.deepEqual(got.shape, ref.shape, `${label}: shape`);
  expectClose(got.values, ref.values, 1e-4, label);
}

test('backend starts as wasm with training kernels', async () => {
  const info = await initBackend({ backend: 'wasm', log: null });
  assert.equal(info.backend, 'wasm');
  assert.equal(info.trainingKernels, true);
  for (const k of ['Conv2DBackpropFilter', 'UnsortedSegmentSum', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']) {
    assert.ok(tf.getKernel(k, 'wasm'), `${k} registered`);
  }
});

test('reduceTranspose merges adjacent dims and drops unit dims', () => {
  assert.deepEqual(reduceTranspose([16, 128, 3, 4, 32], [2, 0, 3, 1, 4]), { shape: [16, 128, 3, 4, 32], perm: [2, 0, 3, 1, 4] });
  assert.deepEqual(reduceTranspose([2, 3, 4, 5], [0, 1, 3, 2]), { shape: [6, 4, 5], perm: [0, 2, 1] });
  assert.deepEqual(reduceTranspose([2, 1, 4], [2, 1, 0]), { shape: [2, 4], perm: [1, 0] });
  assert.deepEqual(reduceTranspose([4, 6, 8], [0, 1, 2]), { shape: [192], perm: [0] });
});

test('BatchMatMul: transposes, batches and broadcasts agree with cpu', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const cases: [number[], number[], boolean, boolean][] = [
    [[33, 17], [17, 9], false, false],
    [[17, 33], [17, 9], true, false],
    [[33, 17], [9, 17], false, true],
    [[17, 33], [9, 17], true, true],
    [[3, 4, 20, 8], [3, 4, 20, 8], false, true], // attention q·kᵀ
    [[3, 4, 20, 20], [3, 4, 20, 8], false, false], // attention p·v
    [[3, 4, 20, 8], [3, 4, 20, 20], true, false], // gradient of p·v wrt v
    [[5, 11, 7], [7, 6], false, false], // batch against one matrix
    [[5, 7, 11], [1, 7, 6], true, false],
    [[1, 3, 6, 5], [2, 3, 5, 4], false, false], // A broadcast over B's leading batch dim
    [[4, 6, 5], [5, 4], false, false],
  ];
  for (const [as, bs, ta, tb] of cases) {
    await agree('BatchMatMul', { a: { shape: as }, b: { shape: bs } }, { transposeA: ta, transposeB: tb }, `matmul ${JSON.stringify([as, bs, ta, tb])}`);
  }
});

test('_FusedMatMul with bias and activation agrees with cpu', async () => {
  await initBackend({ backend: 'wasm', log: null });
  for (const [as, bs, ta, tb] of [
    [[9, 13], [7, 13], false, true],
    [[4, 13, 9], [13, 7], true, false],
    [[2, 9, 13], [2, 13, 7], false, false],
  ] as [number[], number[], boolean, boolean][]) {
    for (const activation of ['linear', 'relu']) {
      await agree(
        '_FusedMatMul',
        { a: { shape: as }, b: { shape: bs }, bias: { shape: [7] } },
        { transposeA: ta, transposeB: tb, activation, leakyreluAlpha: 0.2 },
        `fused ${activation} ${JSON.stringify([as, bs, ta, tb])}`,
      );
    }
  }
});

test('Transpose: rank 2–6 agree with cpu', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const cases: [number[], number[]][] = [
    [
      [7, 5],
      [1, 0],
    ],
    [
      [2, 3, 4, 5],
      [0, 2, 1, 3],
    ],
    [
      [2, 6, 3, 4, 5],
      [2, 0, 3, 1, 4],
    ], // qkv split
    [
      [2, 3, 4, 5, 6],
      [4, 3, 2, 1, 0],
    ],
    [
      [2, 3, 1, 4, 5, 3],
      [5, 1, 3, 0, 2, 4],
    ],
    [
      [3, 1, 4],
      [1, 2, 0],
    ],
  ];
  for (const [shape, perm] of cases) await agree('Transpose', { x: { shape } }, { perm }, `transpose ${JSON.stringify([shape, perm])}`);
});

test('Conv2DBackpropFilter and Conv2DBackpropInput agree with cpu', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const cases: { x: number[]; f: number[]; strides: number | [number, number]; pad: unknown }[] = [
    { x: [2, 9, 9, 5], f: [3, 3, 5, 4], strides: 1, pad: 'same' },
    { x: [2, 9, 8, 5], f: [3, 3, 5, 4], strides: 2, pad: 'same' },
    { x: [2, 10, 9, 3], f: [3, 2, 3, 6], strides: [2, 1], pad: 'valid' },
    { x: [2, 16, 16, 3], f: [4, 4, 3, 8], strides: 4, pad: 'valid' }, // patch embedding
    { x: [1, 7, 7, 12], f: [1, 1, 12, 5], strides: 1, pad: 'valid' }, // 1×1 projection
    {
      x: [2, 8, 8, 4],
      f: [5, 5, 4, 3],
      strides: 1,
      pad: [
        [0, 0],
        [1, 3],
        [2, 2],
        [0, 0],
      ],
    },
  ];
  for (const c of cases) {
    const info = tf.backend_util.computeConv2DInfo(
      c.x as [number, number, number, number],
      c.f as [number, number, number, number],
      c.strides,
      1,
      c.pad as 'same',
    );
    const dyShape = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
    await agree(
      'Conv2DBackpropFilter',
      { x: { shape: c.x }, dy: { shape: dyShape } },
      { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f },
      `backprop filter ${JSON.stringify(c)}`,
    );
    await agree(
      'Conv2DBackpropInput',
      { dy: { shape: dyShape }, filter: { shape: c.f } },
      { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x },
      `backprop input ${JSON.stringify(c)}`,
    );
  }
});

test('UnsortedSegmentSum (embedding gradient) agrees with cpu, drops out-of-range ids', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const ids = Int32Array.from([3, 0, 3, 5, 1, 3, 7, -1, 2, 0]); // 7 and -1 are outside [0, 6)
  await agree('UnsortedSegmentSum', { x: { shape: [10, 6] }, segmentIds: { shape: [10], values: ids, dtype: 'int32' } }, { numSegments: 6 }, 'segment sum');
  await agree(
    'UnsortedSegmentSum',
    { x: { shape: [10, 2, 3] }, segmentIds: { shape: [10], values: ids, dtype: 'int32' } },
    { numSegments: 6 },
    'segment sum rank 3',
  );
});

test('gather gradient (embedding lookup) runs on wasm and matches cpu', async () => {
  const table = randomValues(50 * 8, 3);
  const idx = Int32Array.from([1, 4, 4, 49, 0, 1, 7, 4]);
  const grad = async (b: 'cpu' | 'wasm') => {
    await initBackend({ backend: b, log: null });
    return expectNoTensorLeak(() =>
      tf.tidy(() => {
        const e = tf.tensor2d(table, [50, 8]);
        const g = tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d(idx, 'int32')).square().sum())(e);
        return Float32Array.from(g.dataSync());
      }),
    );
  };
  expectClose(await grad('wasm'), await grad('cpu'), 1e-4, 'embedding grad');
});

test('depthwise conv gradients agree with cpu', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const cases = [
    { x: [2, 7, 7, 3], f: [3, 3, 3, 2], strides: 1, pad: 'same' },
    { x: [1, 9, 8, 4], f: [3, 3, 4, 1], strides: 2, pad: 'valid' },
    { x: [2, 8, 8, 2], f: [2, 2, 2, 3], strides: 2, pad: 'same' },
  ];
  for (const c of cases) {
    const info = tf.backend_util.computeConv2DInfo(
      c.x as [number, number, number, number],
      c.f as [number, number, number, number],
      c.strides,
      1,
      c.pad as 'same',
      undefined,
      true,
    );
    const dyShape = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
    await agree(
      'DepthwiseConv2dNativeBackpropFilter',
      { x: { shape: c.x }, dy: { shape: dyShape } },
      { strides: c.strides, pad: c.pad, dilations: 1, filterShape: c.f },
      `depthwise filter ${JSON.stringify(c)}`,
    );
    await agree(
      'DepthwiseConv2dNativeBackpropInput',
      { dy: { shape: dyShape }, filter: { shape: c.f } },
      { strides: c.strides, pad: c.pad, dilations: 1, inputShape: c.x },
      `depthwise input ${JSON.stringify(c)}`,
    );
  }
});
