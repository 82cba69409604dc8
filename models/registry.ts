/**
 * Architecture registry: the one place that maps an arch name to a config schema and a builder, so
 * `robustok model forward --arch NAME` (and later the stages) can build any registered model from a
 * JSON config and run it on named inputs. Each entry declares its inputs (in command-line order) and
 * names its outputs; a model's parameters keep the upstream state-dict names, so `--weights` accepts a
 * converted PyTorch checkpoint.
 *
 * The first entries are small building blocks (mlp, transformer-block, vit-encoder); the tokenizer and
 * RAR generator register here when their model files land.
 */
import type * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { PipelineError } from '../core/errors';
import type { Module } from './layers/module';
import { Mlp } from './layers/mlp';
import { rarArch } from './rar-arch';
import { VitBlock } from './layers/vit-block';
import { VitEncoder } from './layers/vit-encoder';
import { robustokTokenizerArch } from './robustok-tokenizer-arch';
import { Rng } from './training/rng';

export interface InputSpec {
  name: string;
  dtype: 'float32' | 'int32';
  /** Expected layout, for messages and --help (null = any size). */
  shape: readonly (number | string | null)[];
  /** May be left off the end of the input list (the model then gets undefined for it). */
  optional?: boolean;
  /** Another input this slot accepts instead, told apart by the .npy dtype (integer ids vs floats). */
  or?: InputSpec;
}

export interface BuiltModel {
  readonly module: Module;
  readonly inputs: readonly InputSpec[];
  /** Weight-file keys to skip when loading (e.g. upstream buffers the model does not keep). */
  readonly ignoreWeight?: (name: string) => boolean;
  /** Runs the model on tensors in `inputs` order; returns named outputs (caller disposes). */
  forward(inputs: readonly tf.Tensor[]): Record<string, tf.Tensor>;
}

export interface ArchEntry<S extends z.ZodType = z.ZodType> {
  description: string;
  config: S;
  build(config: z.infer<S>, rng: Rng): BuiltModel;
}

const act = z.enum(['gelu', 'gelu_tanh', 'silu', 'relu']);

const mlpConfig = z.strictObject({
  dim: z.number().int().positive(),
  hidden: z.number().int().positive(),
  outDim: z.number().int().positive().optional(),
  act: act.default('gelu'),
});

const blockConfig = z.strictObject({
  dim: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  mlpRatio: z.number().positive().default(4),
  qkvBias: z.boolean().default(true),
  qkNorm: z.boolean().default(false),
  eps: z.number().positive().default(1e-6),
  layerScale: z.number().optional(),
  act: act.default('gelu'),
  /** Apply a causal mask (decoder use). */
  causal: z.boolean().default(false),
});

const vitConfig = z.strictObject({
  imgSize: z.number().int().positive(),
  patchSize: z.number().int().positive(),
  inChans: z.number().int().positive().default(3),
  embedDim: z.number().int().positive(),
  depth: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  mlpRatio: z.number().positive().default(4),
  qkvBias: z.boolean().default(true),
  eps: z.number().positive().default(1e-6),
  layerScale: z.number().optional(),
  classToken: z.boolean().default(true),
  /** Layout of the input images: NCHW as upstream dumps them, or NHWC. */
  dataFormat: z.enum(['channelsFirst', 'channelsLast']).default('channelsFirst'),
});

const one = (inputs: readonly tf.Tensor[]): tf.Tensor => inputs[0] as tf.Tensor;

export const ARCHS = {
  mlp: {
    description: 'timm Mlp: fc1 → activation → fc2 over the last axis',
    config: mlpConfig,
    build: (c: z.infer<typeof mlpConfig>, rng: Rng): BuiltModel => {
      const m = new Mlp({ ...c, rng });
      return { module: m, inputs: [{ name: 'x', dtype: 'float32', shape: ['...', c.dim] }], forward: (xs) => ({ y: m.forward(one(xs)) }) };
    },
  },
  'transformer-block': {
    description: 'pre-norm ViT block (attention + MLP, optional QK-norm, LayerScale, causal mask)',
    config: blockConfig,
    build: (c: z.infer<typeof blockConfig>, rng: Rng): BuiltModel => {
      const b = new VitBlock({ ...c, rng });
      return {
        module: b,
        inputs: [{ name: 'x', dtype: 'float32', shape: ['B', 'T', c.dim] }],
        forward: (xs) => ({ y: b.forward(one(xs), { causal: c.causal }) }),
      };
    },
  },
  'vit-encoder': {
    description: 'timm VisionTransformer trunk: patch embed, cls token, pos embed, blocks, final norm',
    config: vitConfig,
    build: (c: z.infer<typeof vitConfig>, rng: Rng): BuiltModel => {
      const { dataFormat, ...opts } = c;
      const v = new VitEncoder({ ...opts, rng });
      const shape = dataFormat === 'channelsFirst' ? ['B', c.inChans, c.imgSize, c.imgSize] : ['B', c.imgSize, c.imgSize, c.inChans];
      return { module: v, inputs: [{ name: 'images', dtype: 'float32', shape }], forward: (xs) => ({ tokens: v.forward(one(xs), dataFormat) }) };
    },
  },
  rar: rarArch,
  'robustok-tokenizer': robustokTokenizerArch,
} satisfies Record<string, ArchEntry>;

export type ArchName = keyof typeof ARCHS;

export function archNames(): ArchName[] {
  return Object.keys(ARCHS) as ArchName[];
}

/**
 * Validates `rawConfig` against the arch's schema and builds the model with parameters initialised from
 * `seed`. Throws CONFIG_INVALID for an unknown arch or an invalid config (every issue listed).
 */
export function buildArch(arch: string, rawConfig: unknown, seed = 0): BuiltModel {
  if (!Object.prototype.hasOwnProperty.call(ARCHS, arch)) {
    throw new PipelineError('CONFIG_INVALID', `unknown arch "${arch}": registered archs are ${archNames().join(', ')}`);
  }
  const entry = ARCHS[arch as ArchName] as ArchEntry;
  const parsed = entry.config.safeParse(rawConfig ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new PipelineError('CONFIG_INVALID', `invalid config for arch "${arch}":\n  ${issues.join('\n  ')}`, { details: { issues: parsed.error.issues } });
  }
  return entry.build(parsed.data, Rng.fromSeed(seed));
}
