/**
 * RAR generator config: our flat camelCase form, the RAR-B / RAR-L presets of the dossier (§5), and a
 * reader for the upstream generator YAML (`model.generator.*` + `model.vq_model.codebook_size`), so a
 * config file shipped with a released checkpoint can be passed as is.
 */
import { z } from 'zod';

export const RarConfig = z.strictObject({
  hiddenSize: z.number().int().positive(),
  numLayers: z.number().int().positive(),
  numHeads: z.number().int().positive(),
  intermediateSize: z.number().int().positive(),
  /** Image tokens per sample (grid², 256 for a 16×16 tokenizer). */
  imageSeqLen: z.number().int().positive(),
  codebookSize: z.number().int().positive(),
  numClasses: z.number().int().positive(),
  /** proj and MLP dropout in training (upstream `dropout`). */
  dropout: z.number().min(0).lt(1).default(0.1),
  /** attention-probability dropout in training (upstream `attn_drop`). */
  attnDrop: z.number().min(0).lt(1).default(0.1),
  /** Probability of replacing the class by the null class in training (upstream `class_label_dropout`). */
  classLabelDropout: z.number().min(0).max(1).default(0.1),
});
export type RarConfig = z.infer<typeof RarConfig>;

const imagenet = { imageSeqLen: 256, codebookSize: 4096, numClasses: 1000, dropout: 0.1, attnDrop: 0.1, classLabelDropout: 0.1 };

export const RAR_PRESETS = {
  'rar-b': { hiddenSize: 768, numLayers: 24, numHeads: 16, intermediateSize: 3072, ...imagenet },
  'rar-l': { hiddenSize: 1024, numLayers: 24, numHeads: 16, intermediateSize: 4096, ...imagenet },
} as const satisfies Record<string, RarConfig>;

/** The upstream keys we read; everything else in the YAML (paths, sampling defaults, optimizer…) is ignored. */
const UPSTREAM_KEYS: Record<string, keyof RarConfig> = {
  hidden_size: 'hiddenSize',
  num_hidden_layers: 'numLayers',
  num_attention_heads: 'numHeads',
  intermediate_size: 'intermediateSize',
  image_seq_len: 'imageSeqLen',
  condition_num_classes: 'numClasses',
  dropout: 'dropout',
  attn_drop: 'attnDrop',
  class_label_dropout: 'classLabelDropout',
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An upstream YAML document (it has `model.generator`) mapped to our flat keys; anything else passes through. */
export function fromUpstreamYaml(raw: unknown): unknown {
  if (!isRecord(raw) || !isRecord(raw.model) || !isRecord(raw.model.generator)) return raw;
  const gen = raw.model.generator;
  const out: Record<string, unknown> = {};
  for (const [from, to] of Object.entries(UPSTREAM_KEYS)) if (gen[from] !== undefined) out[to] = gen[from];
  const vq = raw.model.vq_model;
  if (isRecord(vq) && vq.codebook_size !== undefined) out.codebookSize = vq.codebook_size;
  return out;
}

/** Accepts our flat config or the upstream YAML document. */
export const RarConfigInput = z.preprocess(fromUpstreamYaml, RarConfig);

/** Token space (§5): image ids, then one mask id, then the classes, then the null class. */
export function tokenSpace(c: Pick<RarConfig, 'codebookSize' | 'numClasses'>): { maskId: number; classOffset: number; nullClassId: number; vocab: number } {
  const classOffset = c.codebookSize + 1;
  return { maskId: c.codebookSize, classOffset, nullClassId: classOffset + c.numClasses, vocab: classOffset + c.numClasses + 1 };
}
