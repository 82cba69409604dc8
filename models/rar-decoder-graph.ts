/**
 * The decoder's one-position step (models/rar-decoder.ts, `RarDecoder.feed`) as one TensorFlow graph
 * for the native backend: the same ops in the same order (but for the means, see `normalize`, and the
 * caches, below), run by one session call per position instead of ~230 eager kernels. Weights are graph
 * inputs (the graph holds no copy of them).
 *
 * KV caches are fixed-size, [R·nh·Lc, hs] per block and kind (Lc = L + 1, every position a decode feeds:
 * cls, the condition, tokens 0..L−2), rows ordered (row, head, position). The step writes its k and v
 * rows into them with InplaceUpdate, which writes into the fed buffer itself, so the caches never leave
 * the graph: no per-step concatenation (O(t) copies per block, ~0.4 ms of a 2.4 ms smoke step at t = 63)
 * and one output (logits) instead of 2·blocks + 1. Attention then runs over all Lc positions with an
 * additive mask (0 up to the current position, −∞ after; built in the graph from the fed position):
 * exp(−∞) = 0 exactly and the unwritten rows (zeros) add exact zeros; with the same BatchMatMulV2 as
 * before, the logits were bit-identical to the concatenating graph's at every step of the bench's smoke
 * and mid sizes. The products are now BatchMatMulV3 (see `bmm`), which rounds differently: max |Δ| vs the
 * concatenating graph 1.8e-7 at max |logit| 1.07 (smoke), 5.4e-7 at 1.66 (mid), sampled tokens equal.
 * Whether the fed buffer is really written is checked once per process (`inPlaceUpdatesAlias`); where it
 * is not, the decoder runs its eager kernels instead.
 *
 * The graph depends only on the config (and LayerNorm eps), so one is loaded per process and config and
 * shared by every decoder (each feeds its own caches): loading and TensorFlow's first-run optimisation
 * of it take ~0.1–1 s.
 *
 * The session runs each kernel on one thread and, with 2+ inter-op threads, the graph splits the rows
 * into S shards that run side by side (`stepShards`); the shards' logits equal the unsplit graph's bit
 * for bit.
 *
 * Inputs: content [R, D] (the new position's embedding rows), pos [D] and time [D] (its position and
 * timestep rows), cond [R, D] (condition embeddings), k<i>/v<i> [R·nh·Lc, hs] (block i's caches, written
 * in place; with S > 1 shards, k<i>_<s>/v<i>_<s> [R/S·nh·Lc, hs] each, `cacheInput`), rows [R/S·nh]
 * int32 (each (row, head)'s first cache row within a shard, (r·nh + h)·Lc), p [] int32 (the position),
 * and the weights named in `weightFeeds`.
 * Output: logits [R, K].
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { backendInfo, isBackendInitialised } from '../compute/backend';
import { GraphBuilder, type NativeGraph } from '../compute/native-graph';
import type { Linear } from './layers/linear';
import type { RarDecoderWeights } from './rar-decoder';

export interface RarStepGraph {
  graph: NativeGraph;
  /** The weight inputs by graph input name (model variables and the decoder's derived tensors). */
  weightFeeds: Record<string, tf.Tensor>;
  /** Row shards: the graph splits the R rows into this many equal parts, each its own chain of kernels (`stepShards`). */
  shards: number;
}

/** Cache input name of block `block`, kind k or v, shard `shard` of `shards`. */
export function cacheInput(kind: 'k' | 'v', block: number, shard: number, shards: number): string {
  return shards > 1 ? `${kind}${block}_${shard}` : `${kind}${block}`;
}

/**
 * Fewest rows a shard gets. Below 16 rows TensorFlow's matmul takes another kernel path that rounds
 * differently (smoke-size logits: shards of 8 rows differ from 16-row runs by up to 6e-7, shards of 16
 * or 32 rows equal 64-row runs bit for bit), and a sample's tokens must not depend on the machine's
 * thread count. test/unit/models/rar-decoder.test.ts checks the equality.
 */
export const MIN_SHARD_ROWS = 16;

/**
 * How many row shards a step graph for `rows` rows gets with `threads` inter-op threads: the largest
 * s ≤ min(threads, 8) that divides rows into shards of at least MIN_SHARD_ROWS (1 when none does).
 *
 * Why shards: the step's kernels are too small to split over threads ([R, D] rows, R = 16–64 here); split
 * by TensorFlow's intra-op pool they ran slower at 2 threads than at 1 (2.9 against 2.0 ms a step). So the
 * session runs each kernel on one thread (`SESSION`) and the parallelism is across rows instead: every
 * shard is an independent chain from the inputs to its logits, which TensorFlow's executor runs on its
 * inter-op threads side by side, each kernel inline on the thread that made it ready.
 */
export function stepShards(rows: number, threads: number): number {
  for (let s = Math.min(Math.max(1, Math.floor(threads)), 8); s > 1; s--) if (rows % s === 0 && rows / s >= MIN_SHARD_ROWS) return s;
  return 1;
}

/**
 * `stepShards` for this process: its inter-op thread count (1 on a GPU), or ROBUSTOK_RAR_STEP_SHARDS=n
 * (a bench A/B switch; still only a divisor of rows).
 */
export function stepShardsFor(rows: number): number {
  const forced = process.env.ROBUSTOK_RAR_STEP_SHARDS;
  if (forced !== undefined && forced !== '' && forced !== 'auto') {
    const n = Number(forced);
    if (!(Number.isInteger(n) && n >= 1))
      throw new PipelineError('CONFIG_INVALID', `ROBUSTOK_RAR_STEP_SHARDS must be auto or a positive integer, got "${forced}"`);
    return stepShards(rows, n);
  }
  if (!isBackendInitialised()) return 1;
  const info = backendInfo();
  // on a GPU the kernels do not run on the CPU threads: shards would only make more, smaller launches
  return info.gpu ? 1 : stepShards(rows, info.interOpThreads ?? 1);
}

/** The step session's thread settings: one intra-op thread (see `stepShards`). */
const SESSION = { intraOpThreads: 1 } as const;

function bias(l: Linear, what: string): tf.Tensor {
  if (!l.bias) throw new PipelineError('INTERNAL', `RAR step graph: ${what} has no bias`);
  return l.bias;
}

/** Loaded graphs by config key; kept for the process (a session, no tensors). */
const loaded = new Map<string, Promise<NativeGraph>>();

/** The weight inputs of the step graph by input name: model variables and the decoder's derived tensors. */
function stepWeightFeeds(w: RarDecoderWeights): Record<string, tf.Tensor> {
  const m = w.model;
  const feeds: Record<string, tf.Tensor> = { adaT: w.adaT, adaB: w.adaB, lmW: m.lmHead.weight, lmB: bias(m.lmHead, 'lm_head') };
  m.blocks.items.forEach((blk, i) => {
    Object.assign(feeds, {
      [`qkvW${i}`]: blk.attn.qkv.weight,
      [`qkvB${i}`]: bias(blk.attn.qkv, 'qkv'),
      [`qkW${i}`]: w.qkW[i],
      [`qkB${i}`]: w.qkB[i],
      [`projW${i}`]: blk.attn.proj.weight,
      [`projB${i}`]: bias(blk.attn.proj, 'proj'),
      [`fc1W${i}`]: blk.mlp.fc1.weight,
      [`fc1B${i}`]: w.fc1B[i],
      [`fc2W${i}`]: blk.mlp.fc2.weight,
      [`fc2B${i}`]: w.fc2B[i],
    });
  });
  return feeds;
}

/**
 * The step graph for `w`'s config, and its weight feeds. The graph is built and loaded at the first call
 * per config only: building its ~300 nodes costs ~2 ms, paid otherwise at every sampling call.
 */
export async function buildRarStepGraph(w: RarDecoderWeights, shards = 1): Promise<RarStepGraph> {
  if (!(Number.isInteger(shards) && shards >= 1)) throw new PipelineError('INTERNAL', `RAR step graph: ${shards} shards`);
  const feeds = stepWeightFeeds(w);
  const epsValues = [w.eps, w.qkEps, w.finalEps].map((t) => t.dataSync()[0] as number);
  const key = JSON.stringify({ config: w.model.config, eps: epsValues, shards });
  let graph = loaded.get(key);
  if (!graph) {
    graph = stepGraph(w, feeds, epsValues, shards).load(SESSION);
    loaded.set(key, graph);
    graph.catch(() => loaded.delete(key)); // a failed load is retried by the next caller
  }
  return { graph: await graph, weightFeeds: feeds, shards };
}

function stepGraph(w: RarDecoderWeights, feeds: Record<string, tf.Tensor>, epsValues: number[], shards: number): GraphBuilder {
  const m = w.model;
  const { hiddenSize: D, numHeads: nh, imageSeqLen: L } = m.config;
  const hs = D / nh;
  const Lc = L + 1;
  const blocks = m.blocks.items;
  const g = new GraphBuilder();
  const declared = new Set<string>();
  const weightNodes = new Map<string, string>();
  const weight = (name: string) => {
    const t = feeds[name];
    if (!t) throw new PipelineError('INTERNAL', `RAR step graph: no weight feed "${name}"`);
    declared.add(name);
    let node = weightNodes.get(name);
    if (!node) weightNodes.set(name, (node = g.input(name, t.rank))); // one input, read by every shard
    return node;
  };
  const cacheFeed = (kind: 'k' | 'v', block: number, shard: number) => g.input(cacheInput(kind, block, shard, shards), 2);
  const add = (a: string, b: string) => g.op('AddV2', [a, b]);
  const mul = (a: string, b: string) => g.op('Mul', [a, b]);
  const matMulT = (a: string, b: string) => g.op('MatMul', [a, b], { transpose_a: { b: false }, transpose_b: { b: true } }); // [N, in] x [out, in]ᵀ
  // BatchMatMulV3, not V2: TensorFlow hands V2 to oneDNN, which splits even these tiny products (batch
  // R·nh, one query row) over the intra-op threads; V3 stays on Eigen, which splits by cost. Measured per
  // block and step (both products, Lc = 65, R·nh = 64, load 0.9): 141 µs (V2) vs 37 µs (V3) at 2 threads,
  // 49 vs 34 µs at 1
  const bmm = (a: string, b: string, adjY = false) =>
    g.opExact('BatchMatMulV3', [a, b], {
      Ta: { type: 'float32' },
      Tb: { type: 'float32' },
      Tout: { type: 'float32' },
      adj_x: { b: false },
      adj_y: { b: adjY },
    });
  const split = (x: string, sizes: number[], axis: number) =>
    GraphBuilder.outputs(
      g.op('SplitV', [x, g.constInt(sizes), g.constInt([axis], [])], { Tlen: { type: 'int32' }, num_split: { i: sizes.length } }),
      sizes.length,
    );
  const reshape = (x: string, shape: number[]) => g.op('Reshape', [x, g.constInt(shape)], { Tshape: { type: 'int32' } });
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

  const p = g.input('p', 0, 'int32');
  const idx = g.op('AddV2', [g.input('rows', 1, 'int32'), p], { T: { type: 'int32' } }); // [R·nh]: the cache rows of position p
  // additive attention mask [Lc]: 0 at positions ≤ p, −∞ after (exp(−∞) = 0 exactly)
  const later = g.op('Greater', [g.constInt(Array.from({ length: Lc }, (_, j) => j)), p], { T: { type: 'int32' } });
  const mask = g.op('SelectV2', [later, g.constFloat(-Infinity), g.constFloat(0)]);
  // writes the new [R, nh, 1, hs] rows into the fed cache [R·nh·Lc, hs] and views it as [R, nh, Lc, hs]
  const cached = (cache: string, rows: string) => reshape(g.op('InplaceUpdate', [cache, idx, reshape(rows, [-1, hs])]), [-1, nh, Lc, hs]); // [R, nh, 1, hs] -> [R·nh, hs]; [R·nh·Lc, hs] -> [R, nh, Lc, hs]
  const pos = g.input('pos', 1);
  const time = g.input('time', 1);
  // [R, D] -> shards × [R/shards, D]
  const rowsOf = (x: string) => (shards > 1 ? GraphBuilder.outputs(g.op('Split', [g.constInt([0], []), x], { num_split: { i: shards } }), shards) : [x]);
  const content = rowsOf(g.input('content', 2));
  const cond = rowsOf(g.input('cond', 2));
  const logits = content.map((rows, s) => shardLogits(rows, cond[s] as string, s));
  g.output('logits', shards > 1 ? g.op('ConcatV2', [...logits, g.constInt([0], [])], { N: { i: shards }, Tidx: { type: 'int32' } }) : (logits[0] as string));
  const unused = Object.keys(feeds).filter((n) => !declared.has(n));
  if (unused.length) throw new PipelineError('INTERNAL', `RAR step graph: weight feeds ${unused.join(', ')} are not graph inputs`);
  return g;

  /** One shard's chain: its content and condition rows [r, D] to its logits [r, K] (r = R/S; the shapes below say R for r). */
  function shardLogits(contentRows: string, condRows: string, shard: number): string {
    let x = add(contentRows, pos);
    const c = add(condRows, time);
    const mods = split(
      add(g.op('MatMul', [mul(c, g.op('Sigmoid', [c])), weight('adaT')], { transpose_a: { b: false }, transpose_b: { b: false } }), weight('adaB')),
      new Array<number>(w.chunks).fill(D),
      1,
    );
    blocks.forEach((blk, i) => {
      const [A1, B1, G1, A2, B2, G2] = mods.slice(6 * i, 6 * i + 6) as [string, string, string, string, string, string];
      const z = add(mul(normalize(x, eps), A1), B1);
      const qkv = reshape(add(matMulT(z, weight(`qkvW${i}`)), weight(`qkvB${i}`)), [-1, 3 * nh, 1, hs]);
      const [qk, v] = split(qkv, [2 * nh, nh], 1) as [string, string];
      const qkn = add(mul(normalize(qk, qkEps), weight(`qkW${i}`)), weight(`qkB${i}`));
      const [q, k] = split(qkn, [nh, nh], 1) as [string, string];
      const K = cached(cacheFeed('k', i, shard), k);
      const V = cached(cacheFeed('v', i, shard), v);
      const o = reshape(bmm(g.op('Softmax', [add(bmm(q, K, true), mask)]), V), [-1, D]); // [R, nh, 1, Lc] x [R, nh, Lc, hs] -> [R, nh, 1, hs] -> [R, D]
      x = add(x, mul(G1, add(matMulT(o, weight(`projW${i}`)), weight(`projB${i}`))));
      const h = add(matMulT(add(mul(normalize(x, eps), A2), B2), weight(`fc1W${i}`)), weight(`fc1B${i}`));
      const u = mul(h, add(g.op('Erf', [h]), one));
      x = add(x, mul(G2, add(matMulT(u, weight(`fc2W${i}`)), weight(`fc2B${i}`))));
    });
    const [Af, Bf] = mods.slice(6 * blocks.length) as [string, string];
    return add(matMulT(add(mul(normalize(x, finalEps), Af), Bf), weight('lmW')), weight('lmB'));
  }
}

let aliasProbe: Promise<boolean> | undefined;

/**
 * Whether InplaceUpdate in a loaded graph writes into the buffer of the tensor fed to it (the caches
 * above rely on it): TensorFlow's kernel aliases its input on purpose, and tfjs-node hands a fed tensor's
 * buffer to the session without a copy, but neither is an API promise. Checked once per process on a
 * two-row tensor.
 */
export function inPlaceUpdatesAlias(): Promise<boolean> {
  aliasProbe ??= (async () => {
    const g = new GraphBuilder();
    const written = g.op('InplaceUpdate', [g.input('x', 2), g.constInt([1]), g.input('v', 2)]);
    g.output('y', g.op('Sum', [written, g.constInt([0, 1])], { keep_dims: { b: false }, Tidx: { type: 'int32' } }));
    const graph = await g.load();
    const [x, v] = [tf.zeros([2, 1]), tf.ones([1, 1])];
    try {
      graph.run({ x, v }).y?.dispose();
      const after = x.dataSync();
      return after[0] === 0 && after[1] === 1;
    } finally {
      tf.dispose([x, v]);
      graph.dispose();
    }
  })();
  return aliasProbe;
}
