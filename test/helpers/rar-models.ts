/**
 * Small RAR models for tests. RAR's adaLN-zero init makes every block the identity, so tests that need
 * real mixing redraw every parameter from a normal distribution (seeded, so failures reproduce).
 */
import * as tf from '@tensorflow/tfjs';
import { Rar } from '../../models/rar';
import type { RarConfig } from '../../models/rar-config';
import { Rng } from '../../models/training/rng';

export interface PerturbOptions {
  /** Seed of the model's own init (consumed before the redraw). */
  initSeed: number;
  /** Seed of the redraw. */
  drawSeed: number;
  std: number;
  /** Draw LayerNorm weights around 1 instead of 0 (for code that folds the norms, e.g. the decoder). */
  normWeightsAroundOne?: boolean;
}

export function perturbedRar(config: RarConfig, o: PerturbOptions): Rar {
  const m = new Rar(config, Rng.fromSeed(o.initSeed));
  const rng = Rng.fromSeed(o.drawSeed);
  for (const [name, v] of m.parameters()) {
    const isNormWeight = name.endsWith('norm1.weight') || name.endsWith('norm2.weight') || name.endsWith('_norm.weight');
    const mean = o.normWeightsAroundOne === true && isNormWeight ? 1 : 0;
    const t = tf.tensor(rng.fillNormal(new Float32Array(v.size), mean, o.std), v.shape);
    v.assign(t);
    t.dispose();
  }
  return m;
}
