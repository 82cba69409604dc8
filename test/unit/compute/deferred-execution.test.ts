/**
 * compute/deferred-execution.ts: training steps run under withDeferredExecution (learned eagerly, then
 * replayed as TensorFlow graph calls) give the parameters the eager steps give, leave no tensors behind
 * (tfjs's count and the binding's own), fall back correctly when the op sequence changes mid-step or a
 * value is read on the host, and still raise TensorFlow's errors. Skipped without the native backend.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { deferredStats, resetDeferred, withDeferredExecution } from '../../../compute/deferred-execution';
import { AdamW } from '../../../models/training/adamw';
import { disposeGrads, namedGrads } from '../../../models/training/grads';
import { oursTokenizerCase, tokenizerCases } from '../../../bench/tokenizer-cases';
import { oursRarCase, rarCases } from '../../../bench/rar-cases';
import { relativeError } from '../../helpers/tensors';

async function native(t: { diagnostic(m: string): void }): Promise<boolean> {
  try {
    await initBackend({ backend: 'tensorflow', log: null });
    return true;
  } catch {
    t.diagnostic('tfjs-node not available: nothing to check');
    return false;
  }
}

function bindingTensors(): number {
  return (tf.backend() as unknown as { binding: { getNumOfTensors(): number } }).binding.getNumOfTensors();
}

/** Both counts: tfjs's tensors and the TensorFlow handles the binding holds. */
function counts(): [number, number] {
  return [tf.memory().numTensors, bindingTensors()];
}

function snapshot(params: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...params].map(([k, v]) => [k, v.dataSync() as Float32Array]));
}

function assertClose(a: Map<string, Float32Array>, b: Map<string, Float32Array>, tol: number, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) {
    const err = relativeError(b.get(k) as Float32Array, v);
    assert.ok(err <= tol, `${what}: ${k} differs by ${err} (relative)`);
  }
}

/** A small MLP trained with tf.variableGrads (via namedGrads) and our AdamW; `branch(s)` adds a term on some steps. */
function mlp(seed: number) {
  const init = (name: string, v: tf.Tensor) => {
    const p = tf.variable(v, true, `${name}_${seed}_${Math.random()}`);
    v.dispose();
    return [name, p] as const;
  };
  const params = new Map<string, tf.Variable>([
    init('w1', tf.randomUniform([16, 32], -0.3, 0.3, 'float32', seed)),
    init('b1', tf.zeros([32])),
    init('w2', tf.randomUniform([32, 4], -0.3, 0.3, 'float32', seed + 1)),
  ]);
  const x = tf.tidy(() => tf.randomUniform([8, 16], -1, 1, 'float32', seed + 2));
  const y = tf.tidy(() => tf.randomUniform([8, 4], -1, 1, 'float32', seed + 3));
  const opt = new AdamW(params, { lr: 1e-2, weightDecay: 0.01 });
  const p = (k: string) => params.get(k) as tf.Variable;
  return {
    params,
    /** One step; `hostRead` reads the hidden activations' mean on the host and uses it as a loss weight. */
    step(o: { branch?: boolean; hostRead?: boolean } = {}): number {
      const { loss, grads } = namedGrads(() => {
        const h = tf.relu(x.matMul(p('w1')).add(p('b1')));
        let l = h.matMul(p('w2')).sub(y).square().mean();
        if (o.branch) l = l.add(h.abs().mean().mul(0.1));
        if (o.hostRead) {
          const m = h.mean().dataSync()[0] as number; // a value-dependent decision in JavaScript
          l = l.mul(m > 0.05 ? 1.5 : 0.5);
        }
        return l as tf.Scalar;
      }, params);
      opt.applyGradients(grads);
      disposeGrads(grads);
      const v = loss.dataSync()[0] as number;
      loss.dispose();
      return v;
    },
    dispose() {
      opt.dispose();
      tf.dispose([...params.values(), x, y]);
    },
  };
}

test('MLP with AdamW: deferred steps equal eager ones, run as graphs, leave nothing behind', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const before = counts();
  const eager = mlp(1);
  const deferred = mlp(1);
  const stats0 = deferredStats();
  for (let s = 0; s < 6; s++) {
    const le = eager.step();
    const ld = withDeferredExecution(() => deferred.step());
    assert.ok(Math.abs(le - ld) <= 1e-6 * Math.abs(le), `step ${s}: loss ${ld} vs eager ${le}`);
  }
  assertClose(snapshot(deferred.params), snapshot(eager.params), 1e-6, 'after 6 steps');
  const st = deferredStats();
  assert.ok(st && stats0 === null ? st.graphRuns >= 3 : (st?.graphRuns ?? 0) > (stats0?.graphRuns ?? 0), `graphs ran (${JSON.stringify(st)})`);
  assert.equal(st?.pending, 0);
  eager.dispose();
  deferred.dispose();
  assert.deepEqual(counts(), before, 'tfjs tensors and binding tensors back to the baseline');
});

test('a branch that changes mid-sequence and a host read mid-step fall back correctly', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const before = counts();
  const eager = mlp(5);
  const deferred = mlp(5);
  // The pattern repeats, so each variant is learned, then replayed; the branch diverges after the
  // shared forward prefix, and the host read splits the step into two segments.
  const plan = [{}, { branch: true }, {}, { hostRead: true }, { branch: true }, {}, { hostRead: true }, { branch: true, hostRead: true }, {}, { branch: true }];
  for (const [s, o] of plan.entries()) {
    const le = eager.step(o);
    const ld = withDeferredExecution(() => deferred.step(o));
    assert.ok(Math.abs(le - ld) <= 1e-6 * Math.abs(le), `step ${s} ${JSON.stringify(o)}: loss ${ld} vs eager ${le}`);
  }
  assertClose(snapshot(deferred.params), snapshot(eager.params), 1e-6, 'after the mixed steps');
  const st = deferredStats();
  assert.ok((st?.graphRuns ?? 0) > 0 && (st?.replayedEagerly ?? 0) > 0, `both graphs and eager replays happened (${JSON.stringify(st)})`);
  eager.dispose();
  deferred.dispose();
  assert.deepEqual(counts(), before);
});

test('ROBUSTOK_NATIVE_EXEC=eager runs every op as it is called; a bad value is a config error', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const m = mlp(9);
  const saved = process.env.ROBUSTOK_NATIVE_EXEC;
  try {
    process.env.ROBUSTOK_NATIVE_EXEC = 'eager';
    const before = deferredStats();
    for (let s = 0; s < 4; s++) withDeferredExecution(() => m.step());
    const after = deferredStats();
    assert.equal(after?.graphRuns ?? 0, before?.graphRuns ?? 0, 'no graph ran');
    assert.equal(after?.learned ?? 0, before?.learned ?? 0, 'nothing was recorded');
    process.env.ROBUSTOK_NATIVE_EXEC = 'fast';
    assert.throws(
      () => withDeferredExecution(() => m.step()),
      (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID',
    );
  } finally {
    if (saved === undefined) delete process.env.ROBUSTOK_NATIVE_EXEC;
    else process.env.ROBUSTOK_NATIVE_EXEC = saved;
    m.dispose();
  }
});

test('random crops (Slice begins, Pad paddings) are fed, so a step with new offsets each time still replays', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const before = counts();
  const x = tf.tidy(() => tf.randomUniform([4, 3, 8, 8], -1, 1, 'float32', 11));
  const ones = tf.ones([4, 3, 8, 8]);
  const w = tf.variable(ones, true, `crop_w_${Math.random()}`);
  ones.dispose();
  let seed = 1;
  // DiffAugment's translation: pad by 2, then one shifted 8×8 read per sample at a random offset
  const step = () => {
    const offsets = Array.from({ length: 4 }, () => [(seed = (seed * 48271) % 2147483647) % 5, (seed = (seed * 48271) % 2147483647) % 5]);
    const { value, grads } = tf.variableGrads(() => {
      const padded = tf.pad(x.mul(w), [
        [0, 0],
        [0, 0],
        [2, 2],
        [2, 2],
      ]);
      const parts = offsets.map(([dy, dx], b) => padded.slice([b, 0, dy as number, dx as number], [1, -1, 8, 8]));
      return tf.concat(parts, 0).square().mean<tf.Scalar>();
    });
    const g = grads[w.name] as tf.Tensor;
    const out = [value.dataSync()[0] as number, ...Array.from(g.dataSync())];
    tf.dispose([value, g]);
    return out;
  };
  for (let s = 0; s < 6; s++) {
    const s0 = seed;
    const eager = step();
    seed = s0; // the same offsets again, deferred
    const learned = deferredStats()?.learned ?? 0;
    const deferred = withDeferredExecution(step);
    assert.ok(relativeError(deferred, eager) <= 1e-6, `step ${s}: deferred equals eager`);
    if (s >= 2) assert.equal(deferredStats()?.learned, learned, `step ${s} was replayed, not learned again`);
  }
  assert.ok((deferredStats()?.graphRuns ?? 0) >= 3);
  tf.dispose([x, w]);
  assert.deepEqual(counts(), before);
});

test('an error TensorFlow raises inside a replayed step surfaces, and the executor recovers', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const before = counts();
  const table = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [8, 2]);
  const run = (idx: number[]) =>
    withDeferredExecution(() =>
      tf.tidy(() => {
        const i = tf.tensor1d(idx, 'int32');
        let x = tf.gather(table, i); // TensorFlow checks the indices when the kernel runs
        for (let k = 0; k < 12; k++) x = x.mul(1.5).add(1); // long enough to become a graph
        return Array.from(x.sum().dataSync());
      }),
    );
  const good = run([0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(run([0, 1, 2, 3, 4, 5, 6, 7]), good, 'replayed as a graph, same value');
  assert.throws(() => run([0, 1, 2, 3, 4, 5, 6, 99]), /indices|out of range|99/i, 'the out-of-range index is reported');
  assert.deepEqual(run([0, 1, 2, 3, 4, 5, 6, 7]), good, 'later steps still run');
  table.dispose();
  assert.deepEqual(counts(), before);
});

/**
 * Runs a bench case for `steps` steps and returns its parameters and the tensors the whole run left
 * behind (the bench builders leave a few; deferred execution must leave exactly as many as eager).
 */
async function trainCase(
  make: () => { run: () => void | Promise<void>; dispose: () => void; parameters?: Map<string, tf.Variable> },
  steps: number,
): Promise<{ params: Map<string, Float32Array>; left: [number, number] }> {
  const [t0, b0] = counts();
  const c = make();
  for (let s = 0; s < steps; s++) await c.run();
  const params = snapshot(c.parameters as Map<string, tf.Variable>);
  c.dispose();
  const [t1, b1] = counts();
  return { params, left: [t1 - t0, b1 - b0] };
}

test('tokenizer train step (smoke size): parameters after 4 deferred steps equal eager', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const spec = tokenizerCases().find((c) => c.kind === 'train' && c.name.includes('smoke'));
  assert.ok(spec);
  const eager = await trainCase(() => oursTokenizerCase(spec), 4);
  const runs0 = deferredStats()?.graphRuns ?? 0;
  const deferred = await trainCase(() => oursTokenizerCase({ ...spec, exec: 'graph' }), 4);
  const st = deferredStats();
  assert.ok((st?.graphRuns ?? 0) - runs0 >= 2, `the later steps ran as graphs (${JSON.stringify(st)})`);
  // grappler may reorder float sums; four AdamW steps at lr 1e-4 keep that at rounding level
  assertClose(deferred.params, eager.params, 1e-5, 'tokenizer');
  assert.deepEqual(deferred.left, eager.left, 'no tensor left behind beyond what the eager run leaves');
});

test('RAR train step (smoke size): parameters after 4 deferred steps equal eager', async (t) => {
  if (!(await native(t))) return;
  resetDeferred();
  const spec = rarCases(true).find((c) => c.kind === 'train');
  assert.ok(spec);
  const eager = await trainCase(() => oursRarCase(spec), 4);
  const runs0 = deferredStats()?.graphRuns ?? 0;
  const deferred = await trainCase(() => oursRarCase({ ...spec, exec: 'graph' }), 4);
  const st = deferredStats();
  assert.ok((st?.graphRuns ?? 0) - runs0 >= 2, `the later steps ran as graphs (${JSON.stringify(st)})`);
  assertClose(deferred.params, eager.params, 1e-5, 'RAR');
  assert.deepEqual(deferred.left, eager.left, 'no tensor left behind beyond what the eager run leaves');
});
