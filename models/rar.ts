/**
 * RAR, the randomized-autoregressive class-conditional generator (§5 of the dossier), with the
 * upstream state-dict names so a converted `rar_b.bin` / `rar_l.bin` loads without renaming.
 *
 * Sequence (length L + 2): [cls_token, condition token, L image tokens in generation order].
 * Position p gets:
 *   content   p = 0: cls_token; p = 1: embeddings[condition]; p = 2 + j: embeddings[id of the j-th generated token]
 *   pos       pos_embed[p] for p < 2, pos_embed[2 + o_j] for p = 2 + j (o = the order: o_j is the raster
 *             position generated j-th)
 *   target    0 at p = 0; target_aware_pos_embed[2 + o_{p−1}] for 1 ≤ p ≤ L (the position the output at p
 *             must predict); 0 at p = L + 1, which predicts nothing
 *   condition c_p = embeddings[condition] + timesteps_embeddings[p], fed to every block's adaLN
 * The output at p ≥ 1 predicts token o_{p−1}; the cls output is dropped, so a full sequence gives L + 1
 * logit rows, the last of which training discards.
 *
 * Token space (tokenSpace): image ids 0..K−1, mask id K (unused by RAR), class c ↦ K + 1 + c, null class
 * K + 1 + C. `forward` takes condition token ids; `conditionIds` maps raw labels to them.
 */
import * as tf from '@tensorflow/tfjs';
import { expandTo } from './layers/broadcast';
import { PipelineError } from '../core/errors';
import type { DropoutCall } from './layers/dropout';
import { Embedding } from './layers/embedding';
import { KVCache } from './layers/kv-cache';
import { Linear } from './layers/linear';
import { assertShape, Module, ModuleList } from './layers/module';
import { gatherPositions, learnedPosEmbed } from './layers/position-embedding';
import { RarBlock, RarFinalLayer } from './rar-block';
import { tokenSpace, type RarConfig } from './rar-config';
import type { Rng } from './training/rng';

/** Rows of the two position tables and of the timestep table beyond the sequence (upstream's sizes). */
const POS_TABLE_EXTRA = 1024;
const TIMESTEP_TABLE_EXTRA = 100;
/** cls + condition. */
const PREFIX = 2;

export interface RarForwardOptions {
  /** [B, L] int32 permutations of 0..L−1; the input ids are in raster layout and get permuted. Default raster. */
  orders?: tf.Tensor;
  /** Training: dropout with the config's rates. */
  dropout?: DropoutCall;
  /**
   * Only output row `row` (0..n): [B, 1, K]. Sampling without caches reads one row per step; the final
   * layer and lm head then run on that position alone (the blocks still see the whole sequence).
   */
  row?: number;
}

export class Rar extends Module {
  readonly config: RarConfig;
  readonly tokens: ReturnType<typeof tokenSpace>;
  readonly clsToken: tf.Variable; // [1, 1, D]
  readonly posEmbed: tf.Variable; // [1, L + 1024, D]
  readonly targetAwarePosEmbed: tf.Variable; // [1, L + 1024, D]
  readonly timestepsEmbeddings: tf.Variable; // [1, L + 100, D]
  readonly blocks: ModuleList<RarBlock>;
  readonly embeddings: Embedding;
  readonly finalLayer: RarFinalLayer;
  readonly lmHead: Linear;

  constructor(config: RarConfig, rng: Rng) {
    super();
    const { hiddenSize: D, imageSeqLen: L } = config;
    if (D % config.numHeads !== 0) throw new PipelineError('CONFIG_INVALID', `RAR: hiddenSize ${D} is not divisible by numHeads ${config.numHeads}`);
    this.config = config;
    this.tokens = tokenSpace(config);
    // zero-initialised and trainable: upstream's init pass touches modules only, so it keeps its zeros
    this.clsToken = this.param('cls_token', tf.zeros([1, 1, D]));
    this.posEmbed = this.param('pos_embed', learnedPosEmbed(L + POS_TABLE_EXTRA, D, rng));
    this.targetAwarePosEmbed = this.param('target_aware_pos_embed', learnedPosEmbed(L + POS_TABLE_EXTRA, D, rng));
    this.timestepsEmbeddings = this.param('timesteps_embeddings', learnedPosEmbed(L + TIMESTEP_TABLE_EXTRA, D, rng));
    // upstream: Mlp(hidden_features=int(dim * (intermediate_size / dim)))
    const hidden = Math.trunc(D * (config.intermediateSize / D));
    this.blocks = this.module(
      'blocks',
      new ModuleList(Array.from({ length: config.numLayers }, () => new RarBlock({ dim: D, numHeads: config.numHeads, hidden, rng }))),
    );
    this.embeddings = this.module('embeddings', new Embedding(this.tokens.vocab, D, { rng }));
    this.finalLayer = this.module('adaln_before_head', new RarFinalLayer({ dim: D, rng }));
    this.lmHead = this.module('lm_head', new Linear({ inFeatures: D, outFeatures: config.codebookSize, rng }));
  }

  /** Raw labels 0..C−1 → condition token ids; `drop[i]` (class-label dropout, CFG's unconditional half) → null class. */
  conditionIds(classes: ArrayLike<number>, drop?: ArrayLike<boolean>): Int32Array {
    const { numClasses } = this.config;
    return Int32Array.from({ length: classes.length }, (_, i) => {
      const c = classes[i] as number;
      if (!Number.isInteger(c) || c < 0 || c >= numClasses)
        throw new PipelineError('TENSOR_SHAPE', `RAR: class id ${c} at index ${i} is outside 0..${numClasses - 1}`);
      return drop?.[i] ? this.tokens.nullClassId : c + this.tokens.classOffset;
    });
  }

  /**
   * Teacher-forced logits (upstream `forward_fn`): inputIds [B, n] int32 image ids (n ≤ L; n = L with
   * `orders`), condition [B] int32 condition token ids → [B, n + 1, K]. Row j predicts the token at order
   * position j (with `orders`: raster position o_j, whose id `permute(inputIds, orders)[:, j]` holds).
   */
  forward(inputIds: tf.Tensor, condition: tf.Tensor, o: RarForwardOptions = {}): tf.Tensor {
    const { B, n } = this.checkInputs(inputIds, condition);
    if (o.row !== undefined && !(Number.isInteger(o.row) && o.row >= 0 && o.row <= n))
      throw new PipelineError('TENSOR_SHAPE', `RAR: output row ${o.row} is outside 0..${n} for ${n} input tokens`);
    if (o.orders) {
      assertShape(o.orders, [B, this.config.imageSeqLen], 'RAR orders');
      if (n !== this.config.imageSeqLen)
        throw new PipelineError('TENSOR_SHAPE', `RAR: per-sample orders need the full ${this.config.imageSeqLen}-token sequence, got ${n} tokens`);
    }
    return tf.tidy(() => {
      const ids = o.orders ? permute(inputIds, o.orders) : inputIds;
      const { x, c } = this.embedRange(ids, condition, 0, n + PREFIX, o.orders);
      let h = x;
      for (const blk of this.blocks.items) h = blk.forward(h, c, { dropout: o.dropout && this.dropoutRates(o.dropout) });
      // drop the cls position: [B, n + 2, D] -> [B, n + 1, D], or keep output row `row` only: -> [B, 1, D]
      const [from, count] = o.row === undefined ? [1, -1] : [1 + o.row, 1];
      return this.head(h.slice([0, from, 0], [-1, count, -1]), c.slice([0, from, 0], [-1, count, -1]));
    });
  }

  /** One KV cache per block, for `forwardCached`. Dispose them (or reset) after sampling. */
  newCaches(): KVCache[] {
    return this.blocks.items.map(() => new KVCache());
  }

  /**
   * Incremental raster-order forward: inputIds [B, n] are all tokens generated so far; only the
   * positions the caches do not hold yet are computed (cls + condition on the first call, then one token
   * per step). Returns the logits of those positions without cls: [B, 1, K] per step in the usual use,
   * equal to rows of `forward`'s output up to float noise.
   */
  forwardCached(inputIds: tf.Tensor, condition: tf.Tensor, caches: readonly KVCache[]): tf.Tensor {
    const { n } = this.checkInputs(inputIds, condition);
    if (caches.length !== this.blocks.items.length) throw new PipelineError('INTERNAL', `RAR: ${caches.length} caches for ${this.blocks.items.length} blocks`);
    const past = (caches[0] as KVCache).length;
    if (past >= n + PREFIX) throw new PipelineError('INTERNAL', `RAR: the caches already hold ${past} positions; ${n} tokens give only ${n + PREFIX}`);
    return tf.tidy(() => {
      const { x, c } = this.embedRange(inputIds, condition, past, n + PREFIX);
      let h = x;
      this.blocks.items.forEach((blk, i) => (h = blk.forward(h, c, { cache: caches[i] })));
      if (past > 0) return this.head(h, c);
      return this.head(h.slice([0, 1, 0], [-1, -1, -1]), c.slice([0, 1, 0], [-1, -1, -1])); // [B, T, D] -> [B, T − 1, D]: no cls row
    });
  }

  private head(h: tf.Tensor, c: tf.Tensor): tf.Tensor {
    return this.lmHead.forward(this.finalLayer.forward(h, c)); // [B, T, D] -> [B, T, K]
  }

  private dropoutRates(d: DropoutCall): { p: number; attn: number; rng: Rng } {
    return { p: this.config.dropout, attn: this.config.attnDrop, rng: d.rng };
  }

  private checkInputs(inputIds: tf.Tensor, condition: tf.Tensor): { B: number; n: number } {
    assertShape(condition, [null], 'RAR condition');
    const B = condition.shape[0];
    assertShape(inputIds, [B, null], 'RAR input ids');
    if (inputIds.dtype !== 'int32' || condition.dtype !== 'int32')
      throw new PipelineError('TENSOR_SHAPE', `RAR: input ids and condition must be int32, got ${inputIds.dtype} and ${condition.dtype}`);
    const n = inputIds.shape[1] as number;
    if (n > this.config.imageSeqLen) throw new PipelineError('TENSOR_SHAPE', `RAR: ${n} input tokens exceed imageSeqLen ${this.config.imageSeqLen}`);
    return { B, n };
  }

  /**
   * Inputs x and adaLN conditions c of sequence positions [p0, p1): both [B, p1 − p0, D]. `ids` [B, ≥ p1 − 2]
   * are in generation order; `orders` (absent = raster) picks the position-table rows.
   */
  private embedRange(ids: tf.Tensor, condition: tf.Tensor, p0: number, p1: number, orders?: tf.Tensor): { x: tf.Tensor; c: tf.Tensor } {
    const B = condition.shape[0];
    const D = this.config.hiddenSize;
    const L = this.config.imageSeqLen;
    const T = p1 - p0;
    const condEmb = this.embeddings.forward(condition).expandDims(1); // [B] -> [B, 1, D]
    const tile = (t: tf.Tensor) => (t.shape[0] === B ? t : expandTo(t, [B, t.shape[1] as number, t.shape[2] as number])); // [1, t, D] -> [B, t, D]
    const rows = (table: tf.Tensor, from: number, count: number) => table.slice([0, from, 0], [1, count, D]); // [1, N, D] -> [1, count, D]

    // content
    const content: tf.Tensor[] = [];
    if (p0 === 0) content.push(tile(this.clsToken));
    if (p0 <= 1 && p1 > 1) content.push(condEmb);
    const t0 = Math.max(p0, PREFIX); // first token position in range
    if (p1 > t0) content.push(this.embeddings.forward(ids.slice([0, t0 - PREFIX], [B, p1 - t0]))); // [B, t] -> [B, t, D]

    // pos_embed: prefix rows as they are, token rows at 2 + o_j (gathered from the L-row slice: the
    // gather's gradient then scatters over L rows, not the whole 1024-row-padded table)
    const pos: tf.Tensor[] = [];
    if (p0 < PREFIX) pos.push(tile(rows(this.posEmbed, p0, Math.min(p1, PREFIX) - p0)));
    if (p1 > t0) {
      pos.push(orders ? gatherPositions(rows(this.posEmbed, PREFIX, L), orders.slice([0, t0 - PREFIX], [B, p1 - t0])) : tile(rows(this.posEmbed, t0, p1 - t0)));
    }

    // target-aware: position p (1 ≤ p ≤ L) carries row 2 + o_{p−1}; positions 0 and L + 1 carry zeros
    const target: tf.Tensor[] = [];
    if (p0 === 0) target.push(tf.zeros([B, 1, D]));
    const q0 = Math.max(p0, 1);
    const q1 = Math.min(p1, L + 1);
    if (q1 > q0) {
      target.push(
        orders
          ? gatherPositions(rows(this.targetAwarePosEmbed, PREFIX, L), orders.slice([0, q0 - 1], [B, q1 - q0]))
          : tile(rows(this.targetAwarePosEmbed, q0 + 1, q1 - q0)),
      );
    }
    if (p1 === L + PREFIX) target.push(tf.zeros([B, 1, D]));

    const x = tf.concat(content, 1).add(tf.concat(pos, 1)).add(tf.concat(target, 1)); // [B, T, D]
    const c = condEmb.add(rows(this.timestepsEmbeddings, p0, T)); // [B, 1, D] + [1, T, D] -> [B, T, D]
    return { x, c };
  }
}

/** ids [B, L] in raster layout → [B, L] in generation order: out[b, j] = ids[b, orders[b, j]]. */
export function permute(ids: tf.Tensor, orders: tf.Tensor): tf.Tensor {
  return tf.gather(ids, orders, 1, 1);
}
