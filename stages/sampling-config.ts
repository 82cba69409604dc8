/**
 * RAR sampling settings shared by generator.sample and posttrain.pairs (pure: descriptors import it).
 * Defaults are RobusTok's RAR-B values (dossier §6 table: T 1.02, g 6.0, p 1.15), not the rar.yaml
 * defaults 1.0 / 16.0 / 2.75, which belong to the original RAR. RAR-L uses 1.04 / 6.75 / 1.01.
 */
import { z } from 'zod';

export const ROBUSTOK_RAR_B_SAMPLING = { guidanceScale: 6.0, guidanceScalePow: 1.15, randomizeTemperature: 1.02 } as const;

export const samplingFields = {
  /** CFG scale g at the last step (power-cosine schedule rising from 1); 0 turns CFG off, as upstream. */
  guidanceScale: z.number().min(0).default(ROBUSTOK_RAR_B_SAMPLING.guidanceScale),
  /** Power p of the schedule cfg(s) = (g − 1)·(1 − cos(π·(s/L)^p))/2 + 1. */
  guidanceScalePow: z.number().positive().default(ROBUSTOK_RAR_B_SAMPLING.guidanceScalePow),
  /** Constant softmax temperature of every draw (upstream `randomize_temperature`). */
  randomizeTemperature: z.number().positive().default(ROBUSTOK_RAR_B_SAMPLING.randomizeTemperature),
  /** Tokenizer weights that decode the ids: EMA (upstream's `model.ema: true`) or the raw trained ones. */
  tokenizerWeights: z.enum(['ema', 'model']).default('ema'),
};
