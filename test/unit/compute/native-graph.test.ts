/**
 * compute/native-graph.ts: a graph built op by op runs as one session call on tfjs-node and computes
 * what the same eager ops compute (inputs by name, several outputs, a multi-output op, int32 and float
 * constants), without leaving tensors behind. Skipped without the native backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { onNativeBackend } from '../../helpers/native-backend';
import { existsSync, readdirSync } from 'node:fs';
import { GraphBuilder, sessionConfig, type SessionThreads } from '../../../compute/native-graph';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

test('a built graph equals the eager ops it spells out', async (t) => {
  await onNativeBackend(t, async () => {
    const g = new GraphBuilder();
    const x = g.input('x', 2);
    const w = g.input('w', 2);
    const y = g.op('AddV2', [g.op('MatMul', [x, w], { transpose_a: { b: false }, transpose_b: { b: true } }), g.constFloat(1)]); // x wᵀ + 1
    const [a, b] = GraphBuilder.outputs(g.op('SplitV', [y, g.constInt([1, 2]), g.constInt([1], [])], { Tlen: { type: 'int32' }, num_split: { i: 2 } }), 2) as [
      string,
      string,
    ];
    g.output('a', g.op('Erf', [a]));
    g.output('b', g.op('Reshape', [b, g.constInt([-1])], { Tshape: { type: 'int32' } }));
    const graph = await g.load();
    const xv = tf.tensor2d([0.5, -1, 2, 0.25, 3, -0.5], [2, 3]);
    const wv = tf.tensor2d([1, 0, -1, 0.5, 0.5, 0.5, -2, 1, 0], [3, 3]);
    await expectNoTensorLeak(() => {
      const { a: ga, b: gb } = graph.run({ x: xv, w: wv });
      assert.ok(ga && gb, 'both outputs returned');
      const [ea, eb] = tf.tidy((): [tf.Tensor, tf.Tensor] => {
        const ey = tf.matMul(xv, wv, false, true).add(1);
        return [tf.erf(ey.slice([0, 0], [2, 1])), ey.slice([0, 1], [2, 2]).reshape([-1])];
      });
      assert.deepEqual(ga.shape, [2, 1]);
      assert.deepEqual(gb.shape, [4]);
      assert.ok(relativeError(ga.dataSync(), ea.dataSync()) < 1e-6);
      assert.ok(relativeError(gb.dataSync(), eb.dataSync()) < 1e-6);
      tf.dispose([ga, gb, ea, eb]);
    });
    graph.dispose();
    tf.dispose([xv, wv]);
  });
});

test('graph inputs and outputs are named once', () => {
  const g = new GraphBuilder();
  g.input('x', 1);
  assert.throws(() => g.input('x', 1), { code: 'INTERNAL' });
  g.output('y', g.op('Neg', ['in_x:0']));
  assert.throws(() => g.output('y', 'in_x:0'), { code: 'INTERNAL' });
});

test('opExact adds an op with only the given attributes (BatchMatMulV3 has Ta/Tb/Tout, no T)', async (t) => {
  await onNativeBackend(t, async () => {
    const g = new GraphBuilder();
    const f32 = { type: 'float32' } as const;
    g.output('y', g.opExact('BatchMatMulV3', [g.input('a', 3), g.input('b', 3)], { Ta: f32, Tb: f32, Tout: f32, adj_x: { b: false }, adj_y: { b: true } }));
    const graph = await g.load();
    const av = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
    const bv = tf.tensor3d([0.5, -1, 2, 1, 0, -1, 3, 1, 0.5, -2, 0.25, 1], [2, 2, 3]);
    await expectNoTensorLeak(() => {
      const { y } = graph.run({ a: av, b: bv });
      assert.ok(y, 'output returned');
      const want = tf.matMul(av, bv, false, true); // [2, 2, 3] x [2, 2, 3]ᵀ -> [2, 2, 2]
      assert.deepEqual(y.shape, [2, 2, 2]);
      assert.ok(relativeError(y.dataSync(), want.dataSync()) < 1e-6);
      tf.dispose([y, want]);
    });
    graph.dispose();
    tf.dispose([av, bv]);
  });
});

test('sessionConfig: a tensorflow.ConfigProto with intra_op_parallelism_threads (field 2, varint)', () => {
  assert.deepEqual([...sessionConfig({})], []);
  assert.deepEqual([...sessionConfig({ intraOpThreads: 1 })], [0x10, 1]);
  assert.deepEqual([...sessionConfig({ intraOpThreads: 300 })], [0x10, 0xac, 0x02]); // 300 = 0b10_0101100
  assert.throws(() => sessionConfig({ intraOpThreads: 0 }), { code: 'INTERNAL' });
  assert.throws(() => sessionConfig({ intraOpThreads: 1.5 }), { code: 'INTERNAL' });
});

test(
  "a loaded graph's session gets the intra-op pool its config asks for (the addon applies the config; TF_OVERRIDE_GLOBAL_THREADPOOL gives each session its own pool)",
  { skip: !existsSync('/proc/self/task') && 'needs /proc to count threads' },
  async (t) => {
    await onNativeBackend(t, async () => {
      const tasks = () => readdirSync('/proc/self/task').length;
      const loadAndRun = async (session: SessionThreads) => {
        const g = new GraphBuilder();
        const x = g.input('a', 2);
        g.output('y', g.op('MatMul', [x, x], { transpose_a: { b: false }, transpose_b: { b: false } }));
        const graph = await g.load(session);
        const a = tf.ones([64, 64]);
        graph.run({ a }).y?.dispose();
        a.dispose();
        return graph;
      };
      const warm = await loadAndRun({}); // the first session also starts process-wide pools
      const t0 = tasks();
      const three = await loadAndRun({ intraOpThreads: 3 });
      const t1 = tasks();
      const one = await loadAndRun({ intraOpThreads: 1 });
      const t2 = tasks();
      assert.equal(
        t1 - t0 - (t2 - t1),
        2,
        `OS threads ${t0} → ${t1} (a session asking for 3) → ${t2} (asking for 1): each session's pool should follow its config`,
      );
      [warm, three, one].forEach((g) => g.dispose());
    });
  },
);
