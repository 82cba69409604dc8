/**
 * Config and I/O of the `eval.fid` stage kind (pure: the catalog imports it without loading tfjs).
 * Inputs: `samples` and `reference` (any kind `robustok fid` takes: .npz samples or statistics, an
 * image folder, an .npy feature matrix) and, for images, `weights` — the converted FID Inception
 * safetensors, an input rather than a path so its digest is part of the cache key.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';

const SHA256 = /^[0-9a-f]{64}$/;

export const evalFidConfigSchema = z
  .strictObject({
    /** Images per feature-extraction batch. */
    batchSize: z.number().int().min(1).default(50), // = FID_BATCH_SIZE (stages/eval-fid.ts, which loads tfjs)
    /** Explicit opt-in to a randomly initialised Inception (smoke runs; numbers not comparable with papers). */
    randomWeightsSeed: z.number().int().optional(),
    /**
     * Name of an environment variable (e.g. ROBUSTOK_FID_WEIGHTS) that may hold the path of the converted
     * Inception safetensors. When it is set where the run is planned, the CLI fills `weightsFile` and
     * `weightsSha256` (so the weights' digest is part of the cache key); when it is not,
     * `randomWeightsSeed` applies. For single-machine runs: workers must see the same path (on a cluster,
     * wire a files.import stage as the `weights` input instead).
     */
    weightsFromEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
    /** Converted Inception weights on the worker's filesystem, checked against weightsSha256 before use. */
    weightsFile: z.string().optional(),
    weightsSha256: z.string().regex(SHA256).optional(),
    /** Use this sub-folder of a folder `reference` input (e.g. `val` of a dataset.synthetic output); it must exist. */
    referenceSubdir: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, { error: 'referenceSubdir must be one folder name' })
      .optional(),
    /** Also compute precision/recall (runs the network on the reference batch's arr_0 images). */
    precisionRecall: z.boolean().default(false),
  })
  .refine((c) => (c.weightsFile === undefined) === (c.weightsSha256 === undefined), {
    message: 'weightsFile and weightsSha256 go together (the digest pins the file)',
    path: ['weightsSha256'],
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
