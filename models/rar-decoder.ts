/**
 * Incremental RAR decoding for sampling: one sequence position per call against per-block KV caches,
 * written for few kernels per generated token. tfjs-node pays tens of µs per kernel whatever its size,
 * and at sampling sizes (one new position of a few dozen rows) that, not arithmetic, is the step's
 * time: `Rar.forwardCached` (the plain reference path, kept for checking) runs ~470 kernels per token
 * at the bench's smoke size (4 blocks), this ~229.
 *
 * Same function as `forwardCached`; results differ in float rounding only, because:
 *   - the condition c_p = embeddings[condition] + timesteps_embeddings[p] is the same input to every
 *     adaLN, so one matmul per step produces all blocks' and the final layer's modulations, and
 *     LayerNorm's affine and modulate's "+1" are folded into its weight rows:
 *       (LN(x)·w + b)·(1 + scale) + shift = n·A + B,  A = w⊙(1 + scale),  B = b⊙(1 + scale) + shift,
 *     both linear in silu(c) (n: the normalised x);
 *   - row means are matmuls with a 1/n column (tfjs-node's Mean is a Cast plus a Mean);
 *   - q and k are normalised in one pass, 1/√head_dim folded into q_norm's affine;
 *   - cls and the condition are fed as two single-position steps, so causal attention needs no mask
 *     (each new position sees every cached one), and activations stay 2-D [R, D] (the native graph
 *     step keeps fixed-size caches and masks the positions not yet written: models/rar-decoder-graph.ts);
 *   - position and target-aware rows are summed once per position;
 *   - exact GELU takes 3 kernels: the 1/√2 inside erf and the outer ½ are folded into the MLP half's
 *     adaLN rows (A2, B2, gate) and into fc1's and fc2's biases.
 * The folded adaLN weights are a copy of the blocks' adaLN weights (6·D² per block, about a third of
 * RAR-B's parameters), held while a sampling call runs.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import type { LayerNorm } from './layers/layer-norm';
import type { Linear } from './layers/linear';
import type { Rar } from './rar';
import { buildRarStepGraph, cacheInput, inPlaceUpdatesAlias, stepShardsFor, type RarStepGraph } from './rar-decoder-graph';

/** cls + condition. */
const PREFIX = 2;

function linear(x: tf.Tensor, l: Linear): tf.Tensor {
  const y = tf.matMul(x, l.weight, false, true); // [..., in] x [out, in]ᵀ -> [..., out]
  return l.bias ? y.add(l.bias) : y;
}

/** (x − mean)·rsqrt(var + eps) over the last axis; `avg` is a [n, 1] column of 1/n (the means as matmuls). */
function normalize(x: tf.Tensor, avg: tf.Tensor, eps: tf.Tensor): tf.Tensor {
  const d = x.sub(tf.matMul(x, avg)); // [..., n] - [..., 1]
  return d.mul(tf.rsqrt(tf.matMul(d.square(), avg).add(eps)));
}

function affine(ln: LayerNorm, what: string): { w: tf.Tensor; b: tf.Tensor } {
  if (!ln.weight || !ln.bias) throw new PipelineError('INTERNAL', `RAR decoder: ${what} has no affine parameters`);
  return { w: ln.weight, b: ln.bias };
}

/** Model-derived tensors of the decoder (folded adaLN rows, per-position rows); build once per sampling call. */
export class RarDecoderWeights {
  readonly model: Rar;
  /** [D, N·D]: per block (A1, B1, gate_msa, A2, B2, gate_mlp), then the final layer's (A, B); N = 6·blocks + 2. */
  readonly adaT: tf.Tensor;
  readonly adaB: tf.Tensor; // [N·D]
  readonly chunks: number;
  /** Per block: q/k LayerNorm affine for the [R, 2·nh, 1, hs] stack of q and k heads, q's scaled by 1/√hs. */
  readonly qkW: tf.Tensor[]; // each [2·nh, 1, hs]
  readonly qkB: tf.Tensor[];
  /** Per position p ≤ L: pos_embed[p] + target row (0 at p = 0, target_aware_pos_embed[p + 1] after). */
  readonly posRows: tf.Tensor[]; // each [D]
  /** Per position p ≤ L: timesteps_embeddings[p]. */
  readonly timeRows: tf.Tensor[]; // each [D]
  readonly avgD: tf.Tensor; // [D, 1] of 1/D
  readonly avgH: tf.Tensor; // [hs, 1] of 1/hs
  readonly eps: tf.Tensor; // LayerNorm eps (the blocks', the final layer's and QK-norm's are all 1e-6)
  readonly qkEps: tf.Tensor;
  readonly finalEps: tf.Tensor;
  /** Per block: fc1's bias / √2 and fc2's bias · √2 (the GELU fold). */
  readonly fc1B: tf.Tensor[];
  readonly fc2B: tf.Tensor[];
  readonly one: tf.Tensor; // scalar 1 (a number argument would upload a new scalar every call)
  private readonly owned: tf.Tensor[];
  /** The step as one native graph (`useNativeGraph`); absent: eager kernels. */
  step: RarStepGraph | undefined;
  /** With `step`, per position p ≤ L: p as an int32 scalar (the step graph's `p` input). */
  private positions: tf.Tensor[] | undefined;

  constructor(model: Rar) {
    this.model = model;
    const { hiddenSize: D, numHeads: nh, imageSeqLen: L } = model.config;
    const hs = D / nh;
    const blocks = model.blocks.items;
    this.chunks = 6 * blocks.length + 2;
    const first = blocks[0];
    if (!first?.attn.qNorm || !first.attn.kNorm) throw new PipelineError('INTERNAL', 'RAR decoder: attention without QK-norm');
    if (blocks.some((b) => b.mlp.act !== 'gelu')) throw new PipelineError('INTERNAL', 'RAR decoder: the MLP fold assumes exact GELU');
    const kept = tf.tidy(() => {
      const rows: tf.Tensor[] = [];
      const bias: tf.Tensor[] = [];
      for (const [i, blk] of blocks.entries()) {
        const ada = blk.adaLN.linear;
        if (!ada.bias) throw new PipelineError('INTERNAL', `RAR decoder: block ${i} adaLN has no bias`);
        const W = tf.split(ada.weight, 6, 0); // [6D, D] -> 6 × [D, D]: shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp
        const b = tf.split(ada.bias, 6, 0); // [6D] -> 6 × [D]
        // the MLP half is scaled by 1/√2 (see the GELU note in `feed`)
        for (const [norm, sh, sc, g, k] of [
          [blk.norm1, 0, 1, 2, 1],
          [blk.norm2, 3, 4, 5, Math.SQRT1_2],
        ] as const) {
          const { w, b: lb } = affine(norm, `block ${i} ${norm === blk.norm1 ? 'norm1' : 'norm2'}`);
          const onePlus = (b[sc] as tf.Tensor).add(1); // [D]
          const Wsc = W[sc] as tf.Tensor;
          const chunk = (rowsOf: tf.Tensor, biasOf: tf.Tensor) => {
            rows.push(k === 1 ? rowsOf : rowsOf.mul(k));
            bias.push(k === 1 ? biasOf : biasOf.mul(k));
          };
          chunk(Wsc.mul(w.expandDims(1)), w.mul(onePlus)); // A: diag(w)·W_scale, w⊙(1 + b_scale)   [D, D], [D]
          chunk(Wsc.mul(lb.expandDims(1)).add(W[sh] as tf.Tensor), lb.mul(onePlus).add(b[sh] as tf.Tensor)); // B: diag(b)·W_scale + W_shift, b⊙(1 + b_scale) + b_shift
          chunk(W[g] as tf.Tensor, b[g] as tf.Tensor); // gate
        }
      }
      const fc1B = blocks.map((blk) => (blk.mlp.fc1.bias ?? tf.zeros([blk.mlp.fc1.outFeatures])).mul(Math.SQRT1_2));
      const fc2B = blocks.map((blk) => (blk.mlp.fc2.bias ?? tf.zeros([D])).mul(Math.SQRT2));
      const fin = model.finalLayer.adaLN.linear; // chunks (scale, shift); its LayerNorm has no affine
      if (!fin.bias) throw new PipelineError('INTERNAL', 'RAR decoder: final adaLN has no bias');
      const [Wsc, Wsh] = tf.split(fin.weight, 2, 0) as [tf.Tensor, tf.Tensor];
      const [bsc, bsh] = tf.split(fin.bias, 2, 0) as [tf.Tensor, tf.Tensor];
      rows.push(Wsc, Wsh);
      bias.push(bsc.add(1), bsh);
      const adaT = tf.concat(rows, 0).transpose(); // N × [D, D] -> [N·D, D] -> [D, N·D]
      const adaB = tf.concat(bias, 0); // [N·D]

      const headRows = (t: tf.Tensor) => tf.tile(t.reshape([1, 1, hs]), [nh, 1, 1]); // [hs] -> [nh, 1, hs]
      const qkW: tf.Tensor[] = [];
      const qkB: tf.Tensor[] = [];
      const scale = 1 / Math.sqrt(hs);
      for (const [i, blk] of blocks.entries()) {
        const q = affine(blk.attn.qNorm as LayerNorm, `block ${i} q_norm`);
        const k = affine(blk.attn.kNorm as LayerNorm, `block ${i} k_norm`);
        qkW.push(tf.concat([headRows(q.w.mul(scale)), headRows(k.w)], 0)); // [2nh, 1, hs]
        qkB.push(tf.concat([headRows(q.b.mul(scale)), headRows(k.b)], 0));
      }

      const table = (t: tf.Tensor, from: number, n: number) => t.slice([0, from, 0], [1, n, D]).reshape([n, D]); // [1, N, D] -> [n, D]
      const target = tf.concat([tf.zeros([1, D]), table(model.targetAwarePosEmbed, 2, L)], 0); // [L + 1, D]
      const posRows = tf.unstack(table(model.posEmbed, 0, L + 1).add(target)); // [L + 1, D] -> (L + 1) × [D]
      const timeRows = tf.unstack(table(model.timestepsEmbeddings, 0, L + 1));
      const avgD = tf.fill([D, 1], 1 / D);
      const avgH = tf.fill([hs, 1], 1 / hs);
      const eps = tf.scalar(first.norm1.eps);
      const qkEps = tf.scalar((first.attn.qNorm as LayerNorm).eps);
      const finalEps = tf.scalar(model.finalLayer.norm.eps);
      const one = tf.scalar(1);
      return { adaT, adaB, qkW, qkB, fc1B, fc2B, posRows, timeRows, avgD, avgH, eps, qkEps, finalEps, one };
    });
    this.adaT = kept.adaT;
    this.adaB = kept.adaB;
    this.qkW = kept.qkW;
    this.qkB = kept.qkB;
    this.posRows = kept.posRows;
    this.timeRows = kept.timeRows;
    this.avgD = kept.avgD;
    this.avgH = kept.avgH;
    this.eps = kept.eps;
    this.qkEps = kept.qkEps;
    this.finalEps = kept.finalEps;
    this.fc1B = kept.fc1B;
    this.fc2B = kept.fc2B;
    this.one = kept.one;
    this.owned = [
      kept.adaT,
      kept.adaB,
      ...kept.qkW,
      ...kept.qkB,
      ...kept.fc1B,
      ...kept.fc2B,
      ...kept.posRows,
      ...kept.timeRows,
      kept.avgD,
      kept.avgH,
      kept.eps,
      kept.qkEps,
      kept.finalEps,
      kept.one,
    ];
  }

  /**
   * On the native backend, runs each step as one TensorFlow graph (models/rar-decoder-graph.ts) instead
   * of ~230 eager kernels; elsewhere, or where the graph's in-place cache writes do not reach the fed
   * tensors (`inPlaceUpdatesAlias`), a no-op. Same ops, so the same logits up to kernel-level rounding.
   * `rows`: the row count the decoders will have, which picks the graph's row shards (`stepShardsFor`;
   * none when absent). The first call decides; decoders whose rows the shards do not divide run eagerly.
   */
  async useNativeGraph(rows?: number): Promise<void> {
    if (tf.getBackend() !== 'tensorflow' || this.step || !(await inPlaceUpdatesAlias())) return;
    this.step = await buildRarStepGraph(this, rows === undefined ? 1 : stepShardsFor(rows));
    this.positions = Array.from({ length: this.model.config.imageSeqLen + 1 }, (_, i) => tf.scalar(i, 'int32'));
  }

  /** Position p as the step graph's int32 scalar input (`useNativeGraph` done). */
  position(p: number): tf.Tensor {
    const t = this.positions?.[p];
    if (!t) throw new PipelineError('INTERNAL', `RAR decoder: no step graph position ${p}`);
    return t;
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    if (this.positions) tf.dispose(this.positions);
    this.positions = undefined;
    this.step = undefined; // the graph itself is shared (rar-decoder-graph.ts) and stays loaded
  }
}

/**
 * One sequence batch being decoded: R rows with their condition token ids. `start()` feeds cls and the
 * condition and returns the logits predicting token 0; `next(ids)` feeds the ids just chosen and returns
 * the logits predicting the next one. Both return [R, K] (the caller disposes it).
 */
export class RarDecoder {
  private readonly w: RarDecoderWeights;
  private readonly rows: number;
  private readonly condEmb: tf.Tensor; // [R, D]
  /** Per block, eager steps only: [R, nh, t, hs], grown by concatenation. */
  private readonly k: (tf.Tensor | undefined)[];
  private readonly v: (tf.Tensor | undefined)[];
  /** The graph step's caches, [R/S·nh·(L + 1), hs] per block, kind and shard, written in place. */
  private readonly graphCaches: tf.Tensor[] = [];
  /** The graph step's feeds that stay the same at every position (weights, caches, condition, cache rows). */
  private readonly graphFeeds: Record<string, tf.Tensor> | undefined;
  private readonly cacheRows: tf.Tensor | undefined; // [R/S·nh] int32: (r·nh + h)·(L + 1), r within a shard
  private position = 0;

  constructor(weights: RarDecoderWeights, condition: Int32Array) {
    this.w = weights;
    this.rows = condition.length;
    const m = weights.model;
    for (const c of condition) {
      if (!Number.isInteger(c) || c < 0 || c >= m.tokens.vocab)
        throw new PipelineError('TENSOR_SHAPE', `RAR decoder: condition id ${c} is outside the vocabulary`);
    }
    this.condEmb = tf.tidy(() => tf.gather(m.embeddings.weight, tf.tensor1d(condition, 'int32'))); // [R] -> [R, D]
    const { numHeads: nh, hiddenSize: D, imageSeqLen: L } = m.config;
    // a graph split into S row shards takes R rows only in S equal parts; other row counts run eagerly
    const step = weights.step && this.rows % weights.step.shards === 0 ? weights.step : undefined;
    this.k = m.blocks.items.map(() => undefined);
    this.v = m.blocks.items.map(() => undefined);
    if (!step) return;
    // the graph writes each position's rows into these in place (models/rar-decoder-graph.ts), so each
    // must be a buffer of its own and never shared: each tf.zeros uploads a new array, whereas a clone
    // would share its source's buffer and see the writes
    const Lc = L + 1;
    const S = step.shards;
    const shardRows = this.rows / S;
    this.cacheRows = tf.tensor1d(
      Int32Array.from({ length: shardRows * nh }, (_, j) => j * Lc),
      'int32',
    );
    const feeds: Record<string, tf.Tensor> = { ...step.weightFeeds, cond: this.condEmb, rows: this.cacheRows };
    for (const kind of ['k', 'v'] as const)
      m.blocks.items.forEach((_, i) => {
        for (let s = 0; s < S; s++) {
          const cache = tf.zeros([shardRows * nh * Lc, D / nh]); // shard s's rows s·R/S .. (s+1)·R/S − 1
          this.graphCaches.push(cache);
          feeds[cacheInput(kind, i, s, S)] = cache;
        }
      });
    this.graphFeeds = feeds;
  }

  /** Feeds cls (position 0) and the condition (position 1): logits [R, K] predicting token 0. */
  start(): tf.Tensor {
    if (this.position !== 0) throw new PipelineError('INTERNAL', 'RAR decoder: start() called twice');
    const m = this.w.model;
    const D = m.config.hiddenSize;
    const cls = tf.tidy(() => tf.broadcastTo(m.clsToken.reshape([1, D]), [this.rows, D])); // [1, 1, D] -> [R, D]
    try {
      this.feed(cls, false);
    } finally {
      cls.dispose();
    }
    return this.feed(this.condEmb, true) as tf.Tensor;
  }

  /** Feeds the ids chosen for the current token (one per row): logits [R, K] predicting the next token. */
  next(ids: Int32Array): tf.Tensor {
    const L = this.w.model.config.imageSeqLen;
    if (this.position < PREFIX) throw new PipelineError('INTERNAL', 'RAR decoder: next() before start()');
    if (this.position > L) throw new PipelineError('INTERNAL', `RAR decoder: all ${L} positions are fed already`);
    if (ids.length !== this.rows) throw new PipelineError('TENSOR_SHAPE', `RAR decoder: ${ids.length} ids for ${this.rows} rows`);
    const K = this.w.model.config.codebookSize;
    for (const t of ids)
      if (!Number.isInteger(t) || t < 0 || t >= K) throw new PipelineError('TENSOR_SHAPE', `RAR decoder: token id ${t} is outside 0..${K - 1}`);
    const content = tf.tidy(() => tf.gather(this.w.model.embeddings.weight, tf.tensor1d(ids, 'int32'))); // [R] -> [R, D]
    try {
      return this.feed(content, true) as tf.Tensor;
    } finally {
      content.dispose();
    }
  }

  dispose(): void {
    this.condEmb.dispose();
    this.cacheRows?.dispose();
    for (const t of [...this.k, ...this.v, ...this.graphCaches]) t?.dispose();
    this.graphCaches.length = 0;
    this.k.fill(undefined);
    this.v.fill(undefined);
  }

  /** Runs position `this.position` with content rows [R, D]; returns its logits [R, K] when `head`. */
  private feed(content: tf.Tensor, head: boolean): tf.Tensor | undefined {
    if (this.w.step && this.graphFeeds) return this.feedGraph(this.w.step, this.graphFeeds, content, head);
    const w = this.w;
    const m = w.model;
    const p = this.position;
    const R = this.rows;
    const { hiddenSize: D, numHeads: nh } = m.config;
    const hs = D / nh;
    const blocks = m.blocks.items;
    const newK: tf.Tensor[] = [];
    const newV: tf.Tensor[] = [];
    let logits: tf.Tensor | undefined;
    try {
      logits = tf.tidy(() => {
        let x = content.add(w.posRows[p] as tf.Tensor); // [R, D]
        const c = this.condEmb.add(w.timeRows[p] as tf.Tensor);
        const mods = tf.split(tf.matMul(c.mul(tf.sigmoid(c)), w.adaT).add(w.adaB), w.chunks, 1); // silu(c) [R, D] -> [R, N·D] -> N × [R, D]
        blocks.forEach((blk, i) => {
          const [A1, B1, G1, A2, B2, G2] = mods.slice(6 * i, 6 * i + 6) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          // attention of the one new position over the cached ones and itself
          const z = normalize(x, w.avgD, w.eps).mul(A1).add(B1);
          const qkv = linear(z, blk.attn.qkv).reshape([R, 3 * nh, 1, hs]); // [R, 3D] -> [R, 3nh, 1, hs]: q heads, k heads, v heads
          const [qk, v] = tf.split(qkv, [2 * nh, nh], 1) as [tf.Tensor, tf.Tensor]; // [R, 2nh, 1, hs], [R, nh, 1, hs]
          const [q, k] = tf.split(
            normalize(qk, w.avgH, w.qkEps)
              .mul(w.qkW[i] as tf.Tensor)
              .add(w.qkB[i] as tf.Tensor),
            2,
            1,
          ) as [tf.Tensor, tf.Tensor]; // 2 × [R, nh, 1, hs]
          const pk = this.k[i];
          const pv = this.v[i];
          const K = tf.keep(pk ? tf.concat([pk, k], 2) : k); // [R, nh, t, hs] ++ [R, nh, 1, hs]
          const V = tf.keep(pv ? tf.concat([pv, v], 2) : v);
          newK.push(K);
          newV.push(V);
          const att = tf.softmax(tf.matMul(q, K, false, true)); // [R, nh, 1, hs] x [R, nh, t + 1, hs]ᵀ -> [R, nh, 1, t + 1]
          const o = tf.matMul(att, V).reshape([R, D]); // [R, nh, 1, hs] -> [R, D]
          x = x.add(G1.mul(linear(o, blk.attn.proj)));
          // MLP with exact GELU in 3 kernels instead of 5: A2, B2 and G2 come scaled by 1/√2 and the biases
          // as above, so h' = fc1(z2)/√2 and, as gelu(h) = h'·(1 + erf(h'))/√2,
          //   G2·fc2(gelu(h)) = (G2/√2)·(h'·(1 + erf(h'))·W2ᵀ + √2·b2)
          const h = tf.matMul(normalize(x, w.avgD, w.eps).mul(A2).add(B2), blk.mlp.fc1.weight, false, true).add(w.fc1B[i] as tf.Tensor); // [R, D] -> [R, hidden]
          const u = h.mul(tf.erf(h).add(w.one));
          x = x.add(G2.mul(tf.matMul(u, blk.mlp.fc2.weight, false, true).add(w.fc2B[i] as tf.Tensor))); // [R, hidden] -> [R, D]
        });
        if (!head) return undefined;
        const [Af, Bf] = mods.slice(6 * blocks.length) as [tf.Tensor, tf.Tensor];
        return linear(normalize(x, w.avgD, w.finalEps).mul(Af).add(Bf), m.lmHead); // [R, D] -> [R, K]
      });
    } catch (e) {
      for (const t of [...newK, ...newV]) t.dispose(); // new tensors only: the old caches are replaced after success
      throw e;
    }
    blocks.forEach((_, i) => {
      this.k[i]?.dispose();
      this.v[i]?.dispose();
      this.k[i] = newK[i];
      this.v[i] = newV[i];
    });
    this.position++;
    return logits;
  }

  /** `feed` through the native step graph: it writes position p's keys and values into the caches in place. */
  private feedGraph(step: RarStepGraph, feeds: Record<string, tf.Tensor>, content: tf.Tensor, head: boolean): tf.Tensor | undefined {
    const p = this.position;
    const out = step.graph.run({ ...feeds, p: this.w.position(p), content, pos: this.w.posRows[p] as tf.Tensor, time: this.w.timeRows[p] as tf.Tensor });
    this.position++;
    const logits = out.logits as tf.Tensor;
    if (head) return logits;
    logits.dispose();
    return undefined;
  }
}
