/**
 * Parameter initialisers drawn from our seeded Rng (not tfjs' global RNG), so a model built from
 * (config, seed) is bit-identical across processes and backends. Defaults follow the reference code:
 * trunc-normal std 0.02 for Linear/Conv/Embedding (RAR, timm ViT), ones/zeros for LayerNorm.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';

export type Init =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'constant'; value: number }
  | { kind: 'normal'; std: number }
  | { kind: 'truncNormal'; std: number }
  | { kind: 'uniform'; low: number; high: number };

export const TRUNC_NORMAL_002: Init = { kind: 'truncNormal', std: 0.02 };

export function initTensor(shape: readonly number[], init: Init, rng: Rng): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const s = [...shape];
  switch (init.kind) {
    case 'zeros':
      return tf.zeros(s);
    case 'ones':
      return tf.ones(s);
    case 'constant':
      return tf.fill(s, init.value);
    case 'normal':
      return tf.tensor(rng.fillNormal(new Float32Array(size), 0, init.std), s);
    case 'truncNormal':
      return tf.tensor(rng.fillTruncNormal(new Float32Array(size), init.std), s);
    case 'uniform':
      return tf.tensor(rng.fillUniform(new Float32Array(size), init.low, init.high), s);
  }
}
