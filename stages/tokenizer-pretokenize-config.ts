/**
 * Config and I/O of the `tokenizer.pretokenize` stage kind (pure: the catalog imports it without tfjs).
 * Inputs: `tokenizer` (an artifact directory from tokenizer.train) and `dataset` (an ImageFolder root,
 * or a folder with <split>/ ImageFolders such as dataset.synthetic's output). Output: `tokens`, a
 * pretokenized directory (data/token-shards.ts).
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';

export const tokenizerPretokenizeConfigSchema = z
  .strictObject({
    /** 'flip': ADM center crop + its mirror (2 entries per image); 'ten-crop': center crop to ⌊1.1·size⌋ then TenCrop (10). */
    mode: z.enum(['flip', 'ten-crop']).default('flip'),
    /** Sub-folder of the dataset input to encode, when it exists (else the input is the ImageFolder itself). */
    split: z.enum(['train', 'val']).default('train'),
    /** Views per tokenizer call (images per call = max(1, ⌊batchSize / views per image⌋)). */
    batchSize: z.number().int().min(1).default(64),
    /** Images per shard file (lines = images × views per image). */
    imagesPerShard: z.number().int().min(1).default(10_000),
    /** Tokenizer weights: EMA when the artifact has them ('auto'), or explicitly one of the two. */
    weights: z.enum(['auto', 'ema', 'model']).default('auto'),
    skipCorrupt: z.boolean().default(false),
    /** Bicubic resize of the crops: 'sharp' (libvips when downsizing, ≤ 4 levels from Pillow) or 'pil' (bit-exact Pillow, slower). */
    resampler: z.enum(['sharp', 'pil']).default('sharp'),
    /** Encode only this part's contiguous range of shards (several stages in parallel; merge with tokenizer.pretokenize-merge). */
    part: z.strictObject({ index: z.number().int().min(0), count: z.number().int().min(1) }).optional(),
  })
  .refine((c) => c.part === undefined || c.part.index < c.part.count, { message: 'part.index must be < part.count', path: ['part', 'index'] });

export type TokenizerPretokenizeConfig = z.output<typeof tokenizerPretokenizeConfigSchema>;

export const tokenizerPretokenizeDescriptor: StageDescriptor<TokenizerPretokenizeConfig> = {
  kind: 'tokenizer.pretokenize',
  // 2: on the native backend the encoder's LayerNorm runs as oneDNN's fused kernel (models/layers/native-fused.ts):
  //    activations differ at float32 rounding, which can flip a near-tie code
  // 3: native backend: the encoder's GELU as our op library's one-kernel GELU (compute/native-ops.ts): float32 rounding, which can flip a near-tie code
  // 4: native backend: the encoder's Linear layers as one matmul+bias kernel (RobustokMatMulBias): float32 rounding, which can flip a near-tie code
  version: '4',
  description: 'Encodes an ImageFolder into token ids with a trained tokenizer (ADM center crop + flip, or ten-crop), as sharded jsonl + manifest.',
  configSchema: tokenizerPretokenizeConfigSchema,
  inputs: () => ({ required: ['tokenizer', 'dataset'] }),
  outputs: () => ['tokens'],
};

export const tokenizerPretokenizeMergeConfigSchema = z.strictObject({});

export type TokenizerPretokenizeMergeConfig = z.output<typeof tokenizerPretokenizeMergeConfigSchema>;

export const tokenizerPretokenizeMergeDescriptor: StageDescriptor<TokenizerPretokenizeMergeConfig> = {
  kind: 'tokenizer.pretokenize-merge',
  version: '1',
  description: 'Merges the `tokens` outputs of tokenizer.pretokenize parts (wire each as an input, any names) into one pretokenized directory.',
  configSchema: tokenizerPretokenizeMergeConfigSchema,
  inputs: () => ({ required: 'any' }),
  outputs: () => ['tokens'],
};
