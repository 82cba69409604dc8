/**
 * The decoder's one-position step (models/rar-decoder.ts, `RarDecoder.feed`) as one TensorFlow graph
 * for the native backend: the same ops in the same order (but for the means, see `normalize`), run by
 * one session call per position instead of ~230 eager kernels. Weights are graph inputs (the graph holds no copy of them); the caches go in and
 * come out grown by one position.
 *
 * The graph depends only on the config (and LayerNorm eps), so one is loaded per process and config and
 * shared by every decoder: loading and TensorFlow's first-run optimisation of it take ~0.1–1 s.
 *
 * Inputs: content [R, D] (the new position's embedding rows), pos [D] and time [D] (its position and
 * timestep rows), cond [R, D] (condition embeddings), k<i>/v<i> [R, nh, t, hs] (block i's cache, t ≥ 0),
 * and the weights named in `weightFeeds`. Outputs: logits [R, K], k<i>/v<i> [R, nh, t + 1, hs].
 */
import type * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { GraphBuilder, type NativeGraph } from '../compute/native-graph';
import type { Linear } from './layers/linear';
import type { RarDecoderWeights } from './rar-decoder';

export interface RarStepGraph {
  graph: NativeGraph;
  /** The weight inputs by graph input name (model variables and the decoder's derived tensors). */
  weightFeeds: Record<string, tf.Tensor>;
}

function bias(l: Linear, what: string): tf.Tensor {
  if (!l.bias) throw new PipelineError('INTERNAL', `RAR step graph: ${what} has no bias`);
  return l.bias;
}

/** Loaded graphs by config key; kept for the process (a session, no tensors). */
const loaded = new Map<string, Promise<NativeGraph>>();

export async function buildRarStepGraph(w: RarDecoderWeights): Promise<RarStepGraph> {
  const m = w.model;
  const { hiddenSize: D, numHeads: nh } = m.config;
  const hs = D / nh;
  const blocks = m.blocks.items;
  const g = new GraphBuilder();
  const feeds: Record<string, tf.Tensor> = {};
  const weight = (name: string, t: tf.Tensor) => {
    feeds[name] = t;
    return g.input(name, t.rank);
  };
  const add = (a: string, b: string) => g.op('AddV2', [a, b]);
  const mul = (a: string, b: string) => g.op('Mul', [a, b]);
  const matMulT = (a: string, b: string) => g.op('MatMul', [a, b], { transpose_a: { b: false }, transpose_b: { b: true } }); // [N, in] x [out, in]ᵀ
  const bmm = (a: string, b: string, adjY = false) => g.op('BatchMatMulV2', [a, b], { adj_x: { b: false }, adj_y: { b: adjY } });
  const split = (x: string, sizes: number[], axis: number) =>
    GraphBuilder.outputs(
      g.op('SplitV', [x, g.constInt(sizes), g.constInt([axis], [])], { Tlen: { type: 'int32' }, num_split: { i: sizes.length } }),
      sizes.length,
    );
  const reshape = (x: string, shape: number[]) => g.op('Reshape', [x, g.constInt(shape)], { Tshape: { type: 'int32' } });
  const concat = (a: string, b: string, axis: number) => g.op('ConcatV2', [a, b, g.constInt([axis], [])], { N: { i: 2 }, Tidx: { type: 'int32' } });
  const epsValues = [w.eps, w.qkEps, w.finalEps].map((t) => t.dataSync()[0] as number);
  const [eps, qkEps, finalEps] = epsValues.map((e) => g.constFloat(e)) as [string, string, string];
  const one = g.constFloat(1);
  // (x − mean)·rsqrt(var + eps). Means are Mean ops here, not the eager step's matmuls with a 1/n column:
  // inside a graph a kernel costs little, and TensorFlow shards a batched matmul over the intra-op
  // threads, which for these tiny ones cost more than it saved (KV smoke case at 2 threads ~325 -> ~250 ms)
  const lastAxis = g.constInt([-1], []);
  const mean = (x: string) => g.op('Mean', [x, lastAxis], { keep_dims: { b: true }, Tidx: { type: 'int32' } });
  const normalize = (x: string, e: string) => {
    const d = g.op('Sub', [x, mean(x)]);
    return mul(d, g.op('Rsqrt', [add(mean(g.op('Square', [d])), e)]));
  };

  let x = add(g.input('content', 2), g.input('pos', 1));
  const c = add(g.input('cond', 2), g.input('time', 1));
  const mods = split(
    add(
      g.op('MatMul', [mul(c, g.op('Sigmoid', [c])), weight('adaT', w.adaT)], { transpose_a: { b: false }, transpose_b: { b: false } }),
      weight('adaB', w.adaB),
    ),
    new Array<number>(w.chunks).fill(D),
    1,
  );
  blocks.forEach((blk, i) => {
    const [A1, B1, G1, A2, B2, G2] = mods.slice(6 * i, 6 * i + 6) as [string, string, string, string, string, string];
    const z = add(mul(normalize(x, eps), A1), B1);
    const qkv = reshape(add(matMulT(z, weight(`qkvW${i}`, blk.attn.qkv.weight)), weight(`qkvB${i}`, bias(blk.attn.qkv, 'qkv'))), [-1, 3 * nh, 1, hs]);
    const [qk, v] = split(qkv, [2 * nh, nh], 1) as [string, string];
    const qkn = add(mul(normalize(qk, qkEps), weight(`qkW${i}`, w.qkW[i] as tf.Tensor)), weight(`qkB${i}`, w.qkB[i] as tf.Tensor));
    const [q, k] = split(qkn, [nh, nh], 1) as [string, string];
    const K = concat(g.input(`k${i}`, 4), k, 2);
    const V = concat(g.input(`v${i}`, 4), v, 2);
    g.output(`k${i}`, K);
    g.output(`v${i}`, V);
    const o = reshape(bmm(g.op('Softmax', [bmm(q, K, true)]), V), [-1, D]);
    x = add(x, mul(G1, add(matMulT(o, weight(`projW${i}`, blk.attn.proj.weight)), weight(`projB${i}`, bias(blk.attn.proj, 'proj')))));
    const h = add(matMulT(add(mul(normalize(x, eps), A2), B2), weight(`fc1W${i}`, blk.mlp.fc1.weight)), weight(`fc1B${i}`, w.fc1B[i] as tf.Tensor));
    const u = mul(h, add(g.op('Erf', [h]), one));
    x = add(x, mul(G2, add(matMulT(u, weight(`fc2W${i}`, blk.mlp.fc2.weight)), weight(`fc2B${i}`, w.fc2B[i] as tf.Tensor))));
  });
  const [Af, Bf] = mods.slice(6 * blocks.length) as [string, string];
  g.output('logits', add(matMulT(add(mul(normalize(x, finalEps), Af), Bf), weight('lmW', m.lmHead.weight)), weight('lmB', bias(m.lmHead, 'lm_head'))));
  const key = JSON.stringify({ config: m.config, eps: epsValues });
  let graph = loaded.get(key);
  if (!graph) {
    graph = g.load();
    loaded.set(key, graph);
    graph.catch(() => loaded.delete(key)); // a failed load is retried by the next caller
  }
  return { graph: await graph, weightFeeds: feeds };
}
