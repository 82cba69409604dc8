/**
 * Config and I/O of the `posttrain.pairs` stage kind (pure: the catalog imports it without tfjs).
 * Inputs: `generator` (a generator.train artifact), `tokenizer` (the MAIN-TRAIN tokenizer artifact) and
 * `dataset` (an ImageFolder root, or a folder with `<split>/` ImageFolders such as dataset.synthetic's).
 * Output: `pairs`, a folder mirroring the dataset's `<class>/<path>` layout with one generated PNG per
 * real image (same relative path, `.png`), plus `pairs.json`.
 * `posttrain.pairs-merge` joins the `pairs` of shards into the folder one unsharded stage would have written.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';
import { samplingFields } from './sampling-config';

/** The manifest file inside a `pairs` folder. */
export const PAIRS_MANIFEST = 'pairs.json';

export const posttrainPairsConfigSchema = z
  .strictObject({
    /** Per-position probability of forcing the ground-truth token (the preservation ratio of §7). */
    sigma: z.number().min(0).max(1).default(0.7),
    /** Sub-folder of the dataset input to use, when it exists (else the input is the ImageFolder itself). */
    split: z.enum(['train', 'val']).default('train'),
    /** Use a random subset of this many images (upstream `--num_samples`); default every image. */
    numSamples: z.number().int().min(1).optional(),
    /** Seed of the subset selection (upstream `--seed` 42); the sampling itself uses the stage seed. */
    subsetSeed: z.number().int().min(0).default(42),
    ...samplingFields,
    /** Images per tokenizer/generator call (upstream: 50). Does not change the images. */
    batchSize: z.number().int().min(1).default(50),
    /** Bicubic resize of the ADM center crop: 'sharp' (libvips when downsizing) or 'pil' (bit-exact Pillow, slower). */
    resampler: z.enum(['sharp', 'pil']).default('sharp'),
    skipCorrupt: z.boolean().default(false),
    /**
     * This stage pairs the index·n/count … (index+1)·n/count − 1 slice of the n selected images (in
     * folder order); `posttrain.pairs-merge` joins the shards into the folder one stage would have written.
     */
    shard: z.strictObject({ index: z.number().int().min(0), count: z.number().int().min(1) }).default({ index: 0, count: 1 }),
  })
  .refine((c) => c.shard.index < c.shard.count, { message: 'shard.index must be < shard.count', path: ['shard', 'index'] });

export type PosttrainPairsConfig = z.output<typeof posttrainPairsConfigSchema>;

export const posttrainPairsDescriptor: StageDescriptor<PosttrainPairsConfig> = {
  kind: 'posttrain.pairs',
  // 2: shards, and pairs.json counts kept/total positions (so shards merge to the unsharded bytes)
  // 3: RAR sampling through the KV-cache decoder (models/rar-decoder.ts) with the CFG mix on the host:
  //    logits differ at float32 rounding, which can flip a draw
  // 4: native fused LayerNorm/softmax/bias kernels in the tokenizer's decoder (models/layers/native-fused.ts):
  //    decoded pixels differ at float32 rounding
  // 5: native backend: GELU in the generator and decoder as our op library's one-kernel GELU (compute/native-ops.ts): float32 rounding
  // 6: native backend: Linear layers in the generator and decoder as one matmul+bias kernel (RobustokMatMulBias): float32 rounding
  version: '6',
  description:
    "σ-paired post-training data (dossier §7): RAR sampling teacher-forced to the real image's tokens with probability σ per position, decoded to a PNG at the real image's relative path.",
  configSchema: posttrainPairsConfigSchema,
  inputs: () => ({ required: ['generator', 'tokenizer', 'dataset'] }),
  outputs: () => ['pairs'],
};

export const posttrainPairsMergeConfigSchema = z.strictObject({});

export type PosttrainPairsMergeConfig = z.output<typeof posttrainPairsMergeConfigSchema>;

export const posttrainPairsMergeDescriptor: StageDescriptor<PosttrainPairsMergeConfig> = {
  kind: 'posttrain.pairs-merge',
  version: '1',
  description: 'Joins the `pairs` folders of posttrain.pairs shards (wire each as an input, any names) into the folder one unsharded stage would have written.',
  configSchema: posttrainPairsMergeConfigSchema,
  inputs: () => ({ required: 'any' }),
  outputs: () => ['pairs'],
};
