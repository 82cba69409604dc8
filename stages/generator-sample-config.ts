/**
 * Config and I/O of the `generator.sample` stage kind (pure: the catalog imports it without tfjs).
 * Inputs: `generator` (a generator.train artifact directory) and `tokenizer` (a tokenizer artifact).
 * Outputs: `samples`, an ADM-style .npz (arr_0 uint8 [n, H, W, 3] + labels, indices int32 [n] + total
 * int32 [1]) that eval.fid takes as is, and with `writePngs` also `images`, a folder of {idx:06d}.png.
 * `generator.sample-merge` joins the `samples` of shards into the npz one shard would have written.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';
import { samplingFields } from './sampling-config';

export const generatorSampleConfigSchema = z
  .strictObject({
    /** Classes to sample (0..numClasses−1); default all of the generator's. */
    numClasses: z.number().int().min(1).optional(),
    /** Samples per class; labels are [0, 1, …, C−1] repeated perClass times (upstream's list(range(C)) * 50). */
    perClass: z.number().int().min(1).default(50),
    ...samplingFields,
    /** Samples per generator call (upstream's per-process batch: 50). Does not change the images. */
    batchSize: z.number().int().min(1).default(50),
    /** This stage samples the index·N/count … (index+1)·N/count − 1 slice of the global sample indices. */
    shard: z.strictObject({ index: z.number().int().min(0), count: z.number().int().min(1) }).default({ index: 0, count: 1 }),
    /** Also write every sample as {global index:06d}.png into the `images` output. */
    writePngs: z.boolean().default(false),
  })
  .refine((c) => c.shard.index < c.shard.count, { message: 'shard.index must be < shard.count', path: ['shard', 'index'] });

export type GeneratorSampleConfig = z.output<typeof generatorSampleConfigSchema>;

export const generatorSampleDescriptor: StageDescriptor<GeneratorSampleConfig> = {
  kind: 'generator.sample',
  // 2: the KV-cache decoder (models/rar-decoder.ts) and the host-side CFG mix change logits at float32
  // rounding, which can flip a draw: same seed, possibly different bytes than version-1 cache entries
  // 3: native fused LayerNorm/softmax/bias kernels (models/layers/native-fused.ts) in the tokenizer's decoder
  //    and the no-cache check path: values differ at float32 rounding
  // 4: native backend: GELU in the decoder and generator as our op library's one-kernel GELU (compute/native-ops.ts): float32 rounding
  // 5: native backend: Linear layers in the decoder and the no-cache path as one matmul+bias kernel (RobustokMatMulBias): float32 rounding
  version: '5',
  description:
    'Class-conditional RAR sampling (raster order, KV cache, power-cosine CFG, constant temperature), decoded with the tokenizer into an ADM .npz (dossier §6).',
  configSchema: generatorSampleConfigSchema,
  inputs: () => ({ required: ['generator', 'tokenizer'] }),
  outputs: (c) => (c.writePngs ? ['samples', 'images'] : ['samples']),
};

export const generatorSampleMergeConfigSchema = z.strictObject({});

export type GeneratorSampleMergeConfig = z.output<typeof generatorSampleMergeConfigSchema>;

export const generatorSampleMergeDescriptor: StageDescriptor<GeneratorSampleMergeConfig> = {
  kind: 'generator.sample-merge',
  version: '1',
  description: 'Joins the `samples` .npz of generator.sample shards (wire each as an input, any names) into one .npz, ordered by sample index.',
  configSchema: generatorSampleMergeConfigSchema,
  inputs: () => ({ required: 'any' }),
  outputs: () => ['samples'],
};
