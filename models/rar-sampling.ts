/**
 * RAR sampling (§6), with the teacher-forcing hook of the σ-paired post-training data (§7).
 *
 *   - Raster order, one token per step, L steps; by default each step computes only the new position
 *     against per-block KV caches (models/rar-decoder.ts; `kvCache: false` recomputes the whole prefix
 *     with `Rar.forward`, for checking: see sampleChunk for how it runs).
 *   - Classifier-free guidance when guidanceScale ≠ 0 (upstream's test): the batch runs as [class; null]
 *     with the same prefix and logits = uncond + (cond − uncond)·cfg(s), with the power-cosine schedule
 *     cfg(s) = (g − 1)·(1 − cos(π·(s/L)^p))/2 + 1. The mix is made on the host in float64 (cfgMixRow),
 *     next to the draw: the logits of both halves are read anyway, and it saves the device ops.
 *   - logits / T, softmax, one multinomial draw: no top-k/top-p, no temperature annealing.
 *   - Teacher forcing (optional): where keep[b, s] is set, the drawn token is replaced by tokens[b, s];
 *     the model still runs every step and later steps see the mixed prefix. The draw is made either way,
 *     so an all-false mask reproduces free sampling with the same seed.
 *   - Every sample draws from its own Philox stream keyed by (seed, its global index), the draw is a
 *     host-side inverse-CDF over that sample's row only, and with `modelBatch` each sample runs at a
 *     fixed row of a fixed-size model batch, so a sample's tokens do not depend on batch size, shard or
 *     worker layout (the float results of a batched forward do, at the 1e-6 level).
 */
import * as tf from '@tensorflow/tfjs';
import { withDeferredExecution } from '../compute/deferred-execution';
import { PipelineError } from '../core/errors';
import type { Rar } from './rar';
import { RarDecoder, RarDecoderWeights } from './rar-decoder';
import type { Rng } from './training/rng';
import { RngStreams } from './training/rng';

export interface RarSamplingOptions {
  guidanceScale: number;
  guidanceScalePow: number;
  /** Constant softmax temperature (upstream's `randomize_temperature`). */
  randomizeTemperature: number;
  seed: number;
  /** Global index of each sample (default 0..B−1): sample i draws from the stream (seed, indices[i]). */
  sampleIndices?: readonly number[];
  /** Default true. */
  kvCache?: boolean;
  /** σ-paired data: ground-truth ids [B·L] (raster) and the positions that keep them [B·L]. */
  teacherForcing?: { tokens: ArrayLike<number>; keep: ArrayLike<boolean | number> };
  /**
   * Samples per model batch, fixed across calls: sample g runs at row g mod modelBatch of its own model
   * batch, which makes its tokens independent of how samples are split over calls, shards and workers
   * (see sampleRar). Unset: the call's samples form one model batch.
   */
  modelBatch?: number;
  /** Called after every model step (progress heartbeats); total = model batches × L. */
  onStep?: (step: number, total: number) => void;
}

/** Guidance weight of step s of L (MDT power-cosine schedule): 1 at s = 0, rising towards g. */
export function cfgScale(step: number, total: number, guidanceScale: number, guidanceScalePow: number): number {
  const scaleStep = (1 - Math.cos(Math.pow(step / total, guidanceScalePow) * Math.PI)) / 2;
  return (guidanceScale - 1) * scaleStep + 1;
}

/** uncond + (cond − uncond)·scale, in float64 (`cond`, `uncond`: one row of logits each). */
export function cfgMixRow(cond: ArrayLike<number>, uncond: ArrayLike<number>, scale: number): Float64Array {
  const out = new Float64Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = (uncond[i] as number) + ((cond[i] as number) - (uncond[i] as number)) * scale;
  return out;
}

/** The random stream of sample `index` under `seed`. */
export function sampleRng(seed: number, index: number): Rng {
  return new RngStreams(seed).stream(`rar-sample/${index}`);
}

/**
 * One categorical draw from softmax(row / T) by inverse CDF with a single uniform. Computed in float64 on
 * the host; `row` is one sample's logits.
 */
export function drawToken(row: ArrayLike<number>, temperature: number, rng: Rng): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, (row[i] as number) / temperature);
  if (!Number.isFinite(max)) throw new PipelineError('NAN_LOSS', `RAR sampling: non-finite logits (max ${max})`);
  const w = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += w[i] = Math.exp((row[i] as number) / temperature - max);
  const u = rng.uniform() * sum;
  let acc = 0;
  for (let i = 0; i < w.length; i++) {
    acc += w[i] as number;
    if (u < acc) return i;
  }
  return w.length - 1; // u within rounding of the total
}

/**
 * Samples [B·L] raster token ids for raw class labels `classes` (length B).
 *
 * Float results of a batched forward depend (at the 1e-6 level) on the batch size and on a row's
 * position in it (kernel blocking), and such a difference can flip a draw. With `modelBatch` = M the
 * sampler removes both: sample g always runs at row g mod M of a model batch of exactly M samples
 * (padding rows fill the gaps; other rows' contents do not change a row's result), so its tokens are the
 * same whatever subset of samples a call, shard or worker gets. Without it the call's own samples form
 * one model batch.
 */
export async function sampleRar(model: Rar, classes: ArrayLike<number>, o: RarSamplingOptions): Promise<Int32Array> {
  const B = classes.length;
  const L = model.config.imageSeqLen;
  if (!(o.randomizeTemperature > 0)) throw new PipelineError('CONFIG_INVALID', `randomizeTemperature must be > 0, got ${o.randomizeTemperature}`);
  const indices = o.sampleIndices ?? Array.from({ length: B }, (_, i) => i);
  if (indices.length !== B) throw new PipelineError('CONFIG_INVALID', `sampleIndices has ${indices.length} entries for ${B} samples`);
  const tfc = o.teacherForcing;
  if (tfc && (tfc.tokens.length !== B * L || tfc.keep.length !== B * L)) {
    throw new PipelineError('TENSOR_SHAPE', `teacher forcing needs ${B}×${L} tokens and mask entries, got ${tfc.tokens.length} and ${tfc.keep.length}`);
  }
  const M = o.modelBatch;
  if (M !== undefined && !(Number.isInteger(M) && M > 0)) throw new PipelineError('CONFIG_INVALID', `modelBatch must be a positive integer, got ${M}`);
  // chunk → (row → position in this call)
  const chunks = new Map<number, (number | undefined)[]>();
  indices.forEach((g, i) => {
    const key = M === undefined ? 0 : Math.floor(g / M);
    const rows = chunks.get(key) ?? new Array<number | undefined>(M ?? B).fill(undefined);
    const row = M === undefined ? i : g % M;
    if (rows[row] !== undefined) throw new PipelineError('CONFIG_INVALID', `sample index ${g} appears twice`);
    rows[row] = i;
    chunks.set(key, rows);
  });
  const out = new Int32Array(B * L);
  let done = 0;
  const total = chunks.size * L;
  const weights = o.kvCache === false ? undefined : new RarDecoderWeights(model);
  try {
    await weights?.useNativeGraph(modelRows(o, M ?? B));
    for (const rows of chunks.values()) {
      const samples = rows.map((i) => (i === undefined ? undefined : { classId: classes[i] as number, rng: sampleRng(o.seed, indices[i] as number), at: i }));
      await sampleChunk(model, weights, samples, o, out, () => o.onStep?.(++done, total));
    }
  } finally {
    weights?.dispose();
  }
  return out;
}

/** Rows a model batch of `samples` runs through the model: [class; null] with guidance, else one each. */
function modelRows(o: RarSamplingOptions, samples: number): number {
  return o.guidanceScale !== 0 ? 2 * samples : samples;
}

interface ChunkRow {
  classId: number;
  rng: Rng;
  /** Position of the sample in the caller's arrays. */
  at: number;
}

/**
 * One model batch: `rows[r]` undefined is padding (class 0, token 0 every step, never returned).
 * `weights` absent: the no-cache check path.
 */
async function sampleChunk(
  model: Rar,
  weights: RarDecoderWeights | undefined,
  rows: readonly (ChunkRow | undefined)[],
  o: RarSamplingOptions,
  out: Int32Array,
  tick: () => void,
): Promise<void> {
  const L = model.config.imageSeqLen;
  const K = model.config.codebookSize;
  const B = rows.length;
  const tfc = o.teacherForcing;
  const guided = o.guidanceScale !== 0;
  const R = modelRows(o, B);
  const condIds = model.conditionIds(rows.map((r) => r?.classId ?? 0));
  const condAll = guided ? Int32Array.from([...condIds, ...new Array<number>(B).fill(model.tokens.nullClassId)]) : condIds;
  const decoder = weights && new RarDecoder(weights, condAll);
  // the check path: the whole prefix through Rar.forward every step (see prefixLogits)
  const condition = decoder ? undefined : tf.tensor1d(condAll, 'int32');
  const prefix = decoder ? undefined : new Int32Array(R * L); // [R, L], tokens 0..s−1 drawn so far, zeros after
  let step = new Int32Array(R);
  try {
    for (let s = 0; s < L; s++) {
      const logits = decoder ? (s === 0 ? decoder.start() : decoder.next(step)) : prefixLogits(model, prefix as Int32Array, condition as tf.Tensor, s);
      const data = await logits.data();
      logits.dispose();
      const scale = cfgScale(s, L, o.guidanceScale, o.guidanceScalePow);
      step = new Int32Array(R);
      rows.forEach((row, b) => {
        if (!row) return;
        const cond = data.subarray(b * K, (b + 1) * K);
        const logitsRow = guided ? cfgMixRow(cond, data.subarray((B + b) * K, (B + b + 1) * K), scale) : cond;
        let t = drawToken(logitsRow, o.randomizeTemperature, row.rng);
        if (tfc?.keep[row.at * L + s]) t = tfc.tokens[row.at * L + s] as number;
        out[row.at * L + s] = t;
        step[b] = t;
        if (guided) step[B + b] = t;
      });
      if (prefix) for (let r = 0; r < R; r++) prefix[r * L + s] = step[r] as number;
      tick();
    }
  } finally {
    condition?.dispose();
    decoder?.dispose();
  }
}

/**
 * Logits [R, K] of step s without caches: `Rar.forward` over the first n ≥ s tokens of `prefix` [R, L],
 * output row s only (the final layer and lm head run on that position alone).
 *
 * n is s rounded up to a multiple of W (at most L), and the forward runs under withDeferredExecution:
 * with a fixed n the step's ops repeat exactly, so the executor learns them at the first step of that
 * length, builds one TensorFlow graph at the second and runs the rest as single graph calls instead of
 * ~370 eager kernel calls each (bench smoke case: 3405 → 1785 ms at 2 threads; a cold first run gains
 * too, its graphs are built on the way). Exact lengths would need L + 1 graphs, more than the executor's
 * graph cache holds at L = 256, so it would rebuild a graph every step (~5× slower than eager there).
 * W = max(8, ⌈L/16⌉) keeps it to ≤ 17 graphs per model batch size for about W/L more positions (12% at
 * L = 64, 6% at 256). The padding tokens (zeros) sit after position s and the attention is causal, so row
 * s does not depend on them; it equals the unpadded forward up to float noise (matmul blocking).
 */
function prefixLogits(model: Rar, prefix: Int32Array, condition: tf.Tensor, s: number): tf.Tensor {
  const L = model.config.imageSeqLen;
  const R = condition.shape[0];
  const W = Math.max(8, Math.ceil(L / 16));
  const n = Math.min(L, Math.ceil(s / W) * W);
  const ids = new Int32Array(R * n);
  for (let r = 0; r < R; r++) ids.set(prefix.subarray(r * L, r * L + n), r * n); // [R, L] -> [R, n]
  const input = tf.tensor2d(ids, [R, n], 'int32');
  try {
    return withDeferredExecution(() => tf.tidy(() => model.forward(input, condition, { row: s }).reshape([R, model.config.codebookSize]))); // [R, 1, K] -> [R, K]
  } finally {
    input.dispose();
  }
}

/** Per-position keep mask with P(keep) = σ (§7), drawn from its own stream so it never shifts the sampling draws. */
export function keepMask(seed: number, index: number, length: number, sigma: number): Uint8Array {
  if (!(sigma >= 0 && sigma <= 1)) throw new PipelineError('CONFIG_INVALID', `σ must be in [0, 1], got ${sigma}`);
  const rng = new RngStreams(seed).stream(`rar-keep/${index}`);
  return Uint8Array.from({ length }, () => (rng.uniform() < sigma ? 1 : 0));
}
