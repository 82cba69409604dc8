/**
 * Config and I/O of the `eval.fid` stage kind (pure: the catalog imports it without loading tfjs).
 * Inputs: `samples` and `reference` (any kind `robustok fid` takes: .npz samples or statistics, an
 * image folder, an .npy feature matrix) and, for images, `weights` — the converted FID Inception
 * safetensors, an input rather than a path so its digest is part of the cache key.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';

export const evalFidConfigSchema = z.strictObject({
  /** Images per feature-extraction batch. */
  batchSize: z.number().int().min(1).default(50),
  /** Explicit opt-in to a randomly initialised Inception (smoke runs; numbers not comparable with papers). */
  randomWeightsSeed: z.number().int().optional(),
  /** Use this sub-folder of a folder `reference` input (e.g. `val` of a dataset.synthetic output); it must exist. */
  referenceSubdir: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, { error: 'referenceSubdir must be one folder name' }).optional(),
  /** Also compute precision/recall (runs the network on the reference batch's arr_0 images). */
  precisionRecall: z.boolean().default(false),
});

export type EvalFidStageConfig = z.output<typeof evalFidConfigSchema>;

export const evalFidDescriptor: StageDescriptor<EvalFidStageConfig> = {
  kind: 'eval.fid',
  version: '1',
  description: 'FID / sFID / IS / precision-recall of samples against a reference (ADM evaluator conventions).',
  configSchema: evalFidConfigSchema,
  inputs: () => ({ required: ['samples', 'reference'], optional: ['weights'] }),
  outputs: () => ['metrics'],
};
