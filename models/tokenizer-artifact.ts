/**
 * Tokenizer weights on disk.
 *
 * An artifact is a directory:
 *   tokenizer.json      {"arch": "robustok-tokenizer", "config": {…TokenizerConfig}}
 *   model.safetensors   the trained weights (upstream names)
 *   ema.safetensors     the EMA weights (optional; preferred by default when loading)
 *
 * `loadTokenizerWeights` also reads upstream checkpoints converted to safetensors (the `model` or `ema`
 * entry of main-train.pt / post-train.pt, with or without an `ema.`/`model.` key prefix). Those hold
 * entries we do not keep, skipped silently: the int64 level-index buffers `encoder.lvl1LC` /
 * `decoder.lvl1LC` (we compute the intended layout instead), the usage statistic
 * `quantize.ema_vocab_hit_SV`, and the frozen semantic teacher `semantic_model.*` (load it separately
 * with prefix `semantic_model.` when training needs it). Anything else missing, unexpected or of the
 * wrong shape is one CHECKPOINT_MISMATCH naming each key with the model's and the file's shapes.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { PipelineError, errorMessage } from '../core/errors';
import { loadStateDict, saveStateDict, type LoadReport } from '../compute/checkpoint';
import { SafetensorsReader } from '../compute/safetensors';
import { placeholderRng } from './layers/placeholder-rng';
import { RobustokTokenizer } from './robustok-tokenizer';
import { parseTokenizerConfig, type TokenizerConfig } from './tokenizer-config';

export const TOKENIZER_ARCH = 'robustok-tokenizer';
export const TOKENIZER_JSON = 'tokenizer.json';
export const MODEL_WEIGHTS = 'model.safetensors';
export const EMA_WEIGHTS = 'ema.safetensors';

/** Upstream state-dict entries the model does not hold (see the header). */
export function isUpstreamOnlyKey(name: string): boolean {
  const teacher = name.startsWith('semantic_model.') || name.startsWith('detail_model.'); // detail_model: the CLIP guide, off in RobusTok's configs
  return teacher || name === 'encoder.lvl1LC' || name === 'decoder.lvl1LC' || name === 'quantize.ema_vocab_hit_SV';
}

export interface LoadWeightsOptions {
  /** Key prefix in the file ('' for our artifacts; 'ema.' / 'model.' for a whole converted upstream checkpoint). */
  prefix?: string;
  onWarning?: (message: string) => void;
}

/** Fills `model` from a safetensors file (strict except for the upstream-only entries). */
export async function loadTokenizerWeights(model: RobustokTokenizer, file: string, o: LoadWeightsOptions = {}): Promise<LoadReport> {
  const reader = await SafetensorsReader.open(file);
  try {
    const prefix = o.prefix ?? '';
    const int64 = new Set(
      reader
        .names()
        .filter((k) => reader.info(k).dtype === 'I64')
        .map((k) => k.slice(prefix.length)),
    );
    const own = model.stateDict();
    // any int64 buffer the model lacks is index bookkeeping (upstream registers them with register_buffer)
    const ignore = (name: string) => isUpstreamOnlyKey(name) || (int64.has(name) && !own.has(name));
    try {
      return await loadStateDict(own, reader, { prefix, ignore, strict: true, onWarning: o.onWarning });
    } catch (e) {
      if (e instanceof PipelineError && e.code === 'CHECKPOINT_MISMATCH') {
        const c = model.config;
        throw new PipelineError(
          'CHECKPOINT_MISMATCH',
          `${e.message}\nThe tokenizer was built with image_size ${c.image_size}, patch_size ${c.patch_size}, width ${c.width}, depth ${c.depth}, ` +
            `codebook ${c.codebook_size}×${c.codebook_embed_dim}, num_latent_tokens ${c.num_latent_tokens}: set the config to the checkpoint's sizes ` +
            `(the paper's checkpoints: the defaults), or pass prefix 'ema.'/'model.' for a whole converted training checkpoint.`,
          { cause: e, details: e.details },
        );
      }
      throw e;
    }
  } finally {
    await reader.close();
  }
}

export interface TokenizerArtifactParts {
  config: TokenizerConfig;
  /** The trained weights under the model's names (`model.stateDict()`). */
  model: ReadonlyMap<string, tf.Tensor>;
  /** EMA weights under the same names (e.g. `Ema.tensors()`). */
  ema?: ReadonlyMap<string, tf.Tensor>;
}

/** Writes tokenizer.json, model.safetensors and (when given) ema.safetensors into `dir`. */
export async function saveTokenizerArtifact(dir: string, parts: TokenizerArtifactParts | RobustokTokenizer): Promise<void> {
  const p: TokenizerArtifactParts = parts instanceof RobustokTokenizer ? { config: parts.config, model: parts.stateDict() } : parts;
  const config = parseTokenizerConfig(p.config, 'tokenizer config to save');
  const names = [...p.model.keys()];
  if (p.ema) {
    const ema = p.ema;
    const missing = names.filter((k) => !ema.has(k));
    if (missing.length > 0)
      throw new PipelineError(
        'INTERNAL',
        `saveTokenizerArtifact: the EMA weights lack ${missing.length} key(s) of the model: ${missing.slice(0, 5).join(', ')}`,
      );
  }
  await mkdir(dir, { recursive: true });
  await saveStateDict(path.join(dir, MODEL_WEIGHTS), p.model);
  if (p.ema) {
    const ema = p.ema;
    await saveStateDict(path.join(dir, EMA_WEIGHTS), new Map(names.map((k) => [k, ema.get(k) as tf.Tensor])));
  }
  await writeFile(path.join(dir, TOKENIZER_JSON), `${JSON.stringify({ arch: TOKENIZER_ARCH, config }, null, 2)}\n`);
}

export interface LoadArtifactOptions {
  /** 'ema' | 'model' | 'auto' (default: ema when the artifact has it, else model). */
  weights?: 'ema' | 'model' | 'auto';
}

export interface LoadedTokenizer {
  model: RobustokTokenizer;
  config: TokenizerConfig;
  weights: 'ema' | 'model';
}

/** Reads a tokenizer artifact directory written by saveTokenizerArtifact. */
/** The config of a tokenizer artifact directory (its tokenizer.json), validated. */
export async function readTokenizerArtifactConfig(dir: string): Promise<TokenizerConfig> {
  const jsonPath = path.join(dir, TOKENIZER_JSON);
  let meta: { arch?: unknown; config?: unknown };
  try {
    meta = JSON.parse(await readFile(jsonPath, 'utf8')) as { arch?: unknown; config?: unknown };
  } catch (e) {
    throw new PipelineError('INPUT_MISSING', `${dir} is not a tokenizer artifact: cannot read ${TOKENIZER_JSON} (${errorMessage(e)})`, { cause: e });
  }
  if (meta.arch !== TOKENIZER_ARCH)
    throw new PipelineError('CHECKPOINT_MISMATCH', `${jsonPath}: arch ${JSON.stringify(meta.arch)}, expected "${TOKENIZER_ARCH}"`);
  return parseTokenizerConfig(meta.config, `config in ${jsonPath}`);
}

export async function loadTokenizerArtifact(dir: string, o: LoadArtifactOptions = {}): Promise<LoadedTokenizer> {
  const config = await readTokenizerArtifactConfig(dir);
  const want = o.weights ?? 'auto';
  const hasEma = await exists(path.join(dir, EMA_WEIGHTS));
  if (want === 'ema' && !hasEma) throw new PipelineError('INPUT_MISSING', `${dir} has no ${EMA_WEIGHTS}; load weights: 'model'`);
  const weights = want === 'auto' ? (hasEma ? 'ema' : 'model') : want;
  // Every weight comes from the file (strict load): drawing random ones first cost ~0.3 s per million
  // weights (mid bench tokenizer, 6.5M: 1.9-4 s per stage run; a ViT-B pair would be about a minute).
  const model = new RobustokTokenizer(config, placeholderRng());
  try {
    await loadTokenizerWeights(model, path.join(dir, weights === 'ema' ? EMA_WEIGHTS : MODEL_WEIGHTS));
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, config, weights };
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
