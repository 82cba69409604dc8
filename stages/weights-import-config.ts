/**
 * Config and I/O of the `weights.import` stage kind (pure): released weights (a safetensors file —
 * convert `main-train.pt` / `post-train.pt` / `rar_b.bin` once, see README) plus their config, written
 * as the artifact our own stages produce, so sampling, post-training and FID take them like trained ones:
 *   arch robustok-tokenizer → output `tokenizer` (what tokenizer.train writes: tokenizer.json,
 *                             model.safetensors, ema.safetensors when the file has EMA weights)
 *   arch rar                → output `generator` (what generator.train writes: generator.json, model.safetensors)
 * The config comes from `upstreamConfig` (upstream's YAML: configs/main-train.yaml for a tokenizer,
 * configs/generator/rar.yaml for RAR) and/or `model` (our keys, or `preset: rar-b | rar-l`), `model`
 * winning. A weight whose shape differs from the config's model fails with CHECKPOINT_MISMATCH naming it.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';
import { sha256Field, sourceField } from './import-source';

export const weightsImportConfigSchema = z.strictObject({
  arch: z.enum(['robustok-tokenizer', 'rar']),
  /** The safetensors file: absolute path, file:///… or s3://bucket/key. */
  weights: sourceField,
  /** Expected sha256 of the weights file; without it the key sees the source string plus `sourceStat`. */
  sha256: sha256Field.optional(),
  /** Set by the planner, not by hand: size and modification time of a local weights file (cli/source-fingerprint.ts). */
  sourceStat: z.string().optional(),
  /** Upstream YAML (or JSON) the weights were trained with: absolute path, file:///… or s3://bucket/key. */
  upstreamConfig: sourceField.optional(),
  /** Config keys on top of upstreamConfig: our tokenizer keys (image_size, width, …) or RAR keys (hiddenSize, …, `preset`). */
  model: z.record(z.string(), z.unknown()).default({}),
  /**
   * Key prefixes in the file. auto: a whole converted training checkpoint has `model.` (and `ema.`)
   * entries; a bare state dict is the model weights. EMA weights exist only for the tokenizer.
   */
  prefixes: z.union([z.literal('auto'), z.strictObject({ model: z.string(), ema: z.string().optional() })]).default('auto'),
});

export type WeightsImportConfig = z.output<typeof weightsImportConfigSchema>;

export const weightsImportDescriptor: StageDescriptor<WeightsImportConfig> = {
  kind: 'weights.import',
  version: '1',
  description: 'Released tokenizer or RAR weights (safetensors + upstream YAML config) written as a tokenizer/generator artifact, shapes checked.',
  configSchema: weightsImportConfigSchema,
  inputs: () => ({ required: [] }),
  outputs: (c) => [c.arch === 'rar' ? 'generator' : 'tokenizer'],
};
