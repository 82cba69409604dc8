/**
 * A minimal pre-LN transformer block (attention + MLP), written with plain tf ops, used as the
 * standard workload of the compute bench and of the wasm training acceptance test. It is deliberately
 * the textbook block (nanoGPT's shape) so the same work can be written line for line in PyTorch
 * (bench/torch_bench.py) and the two timed side by side. The real layers live in models/layers/.
 */
import * as tf from '@tensorflow/tfjs';

export interface BlockConfig {
  width: number; // C
  heads: number; // H, head size C / H
  mlpRatio: number;
}

export interface BlockParams {
  ln1g: tf.Variable;
  ln1b: tf.Variable;
  wqkv: tf.Variable;
  bqkv: tf.Variable; // [C, 3C]
  wo: tf.Variable;
  bo: tf.Variable; // [C, C]
  ln2g: tf.Variable;
  ln2b: tf.Variable;
  w1: tf.Variable;
  b1: tf.Variable; // [C, rC]
  w2: tf.Variable;
  b2: tf.Variable; // [rC, C]
}

/** Deterministic init (seeded truncated normal, std 0.02, as GPT-2). */
export function initBlock(cfg: BlockConfig, seed = 1): BlockParams {
  const c = cfg.width;
  const h = cfg.width * cfg.mlpRatio;
  let s = seed;
  const w = (shape: number[]) => tf.variable(tf.truncatedNormal(shape, 0, 0.02, 'float32', s++));
  const z = (n: number) => tf.variable(tf.zeros([n]));
  const o = (n: number) => tf.variable(tf.ones([n]));
  return {
    ln1g: o(c),
    ln1b: z(c),
    wqkv: w([c, 3 * c]),
    bqkv: z(3 * c),
    wo: w([c, c]),
    bo: z(c),
    ln2g: o(c),
    ln2b: z(c),
    w1: w([c, h]),
    b1: z(h),
    w2: w([h, c]),
    b2: z(c),
  };
}

export function blockVariables(p: BlockParams): tf.Variable[] {
  return Object.values(p) as tf.Variable[];
}

function layerNorm(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x
    .sub(mean)
    .mul(tf.rsqrt(variance.add(1e-5)))
    .mul(g)
    .add(b);
}

function gelu(x: tf.Tensor): tf.Tensor {
  // tanh approximation (PyTorch's gelu(approximate='tanh')), so both sides do the same arithmetic.
  const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(inner.tanh().add(1));
}

/** x [B, T, C] → [B, T, C]; causal self-attention then MLP, each pre-normalised with a residual. */
export function blockForward(p: BlockParams, cfg: BlockConfig, x: tf.Tensor3D, causalMask?: tf.Tensor): tf.Tensor3D {
  const [b, t, c] = x.shape;
  const nh = cfg.heads;
  const hs = c / nh;
  const h1 = layerNorm(x, p.ln1g, p.ln1b).reshape([b * t, c]); // [B·T, C]
  const qkv = tf.matMul(h1, p.wqkv).add(p.bqkv).reshape([b, t, 3, nh, hs]); // [B, T, 3, H, hs]
  const qkvT = qkv.transpose([2, 0, 3, 1, 4]); // [3, B, H, T, hs]
  const [q, k, v] = tf.unstack(qkvT, 0) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D]; // each [B, H, T, hs]
  let att = tf.matMul(q, k, false, true).mul(1 / Math.sqrt(hs)); // [B, H, T, T]
  if (causalMask) att = att.add(causalMask);
  const y = tf.matMul(tf.softmax(att), v); // [B, H, T, hs]
  const yT = y.transpose([0, 2, 1, 3]).reshape([b * t, c]); // [B·T, C]
  const x1 = x.add(tf.matMul(yT, p.wo).add(p.bo).reshape([b, t, c]));
  const h2 = layerNorm(x1, p.ln2g, p.ln2b).reshape([b * t, c]); // [B·T, C]
  const m = tf
    .matMul(gelu(tf.matMul(h2, p.w1).add(p.b1)), p.w2)
    .add(p.b2)
    .reshape([b, t, c]);
  return x1.add<tf.Tensor3D>(m);
}

/** Additive causal mask [T, T]: 0 on and below the diagonal, −1e9 above. */
export function causalMask(t: number): tf.Tensor2D {
  return tf.tidy(() =>
    tf.linalg
      .bandPart(tf.ones([t, t]), -1, 0)
      .sub(1)
      .mul<tf.Tensor2D>(1e9),
  );
}

/** FLOPs of one forward pass (matmuls only, 2 per multiply-add), for GFLOP/s figures. */
export function blockForwardFlops(cfg: BlockConfig, b: number, t: number): number {
  const c = cfg.width;
  const n = b * t;
  const proj = 2 * n * c * (3 * c) + 2 * n * c * c + 2 * 2 * n * c * (c * cfg.mlpRatio);
  const attn = 2 * 2 * b * t * t * c; // q·kᵀ and p·v over all heads
  return proj + attn;
}
