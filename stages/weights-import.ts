/**
 * The `weights.import` stage kind (see weights-import-config.ts): fetches the weights (and the upstream
 * config), builds the model the config describes, loads the file into it strictly — so the artifact it
 * writes is one our stages can load — and saves the tokenizer or generator artifact.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadStateDict } from '../compute/checkpoint';
import { initBackend } from '../compute/backend';
import { SafetensorsReader } from '../compute/safetensors';
import { PipelineError, errorMessage } from '../core/errors';
import { Rar } from '../models/rar';
import { saveRarArtifact } from '../models/rar-artifact';
import { fromUpstreamYaml, RAR_PRESETS, RarConfig } from '../models/rar-config';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { loadTokenizerWeights, saveTokenizerArtifact } from '../models/tokenizer-artifact';
import { importedTokenizerConfig } from '../models/tokenizer-upstream-config';
import { placeholderRng } from '../models/layers/placeholder-rng';
import { sha256File } from '../artifacts/hashing';
import { fetchSource, sourceBaseName } from './import-source';
import type { StageContext, StageImpl, StageResult } from './stage';
import { weightsImportDescriptor, type WeightsImportConfig } from './weights-import-config';

interface Prefixes {
  model: string;
  ema?: string;
}

/** Which entries of the file hold the model and EMA weights (see the config's `prefixes`). */
export function detectPrefixes(names: readonly string[], arch: WeightsImportConfig['arch']): Prefixes {
  const has = (p: string) => names.some((n) => n.startsWith(p));
  if (has('model.') && names.every((n) => n.startsWith('model.') || n.startsWith('ema.')))
    return { model: 'model.', ema: arch === 'robustok-tokenizer' && has('ema.') ? 'ema.' : undefined };
  return { model: '' };
}

async function readUpstreamConfig(file: string, source: string): Promise<unknown> {
  try {
    return parseYaml(await readFile(file, 'utf8')) as unknown; // YAML is a superset of JSON: one parser for both
  } catch (e) {
    throw new PipelineError('CONFIG_INVALID', `weights.import: upstreamConfig ${source} is not YAML/JSON (${errorMessage(e)})`, { cause: e });
  }
}

/** The RAR config of an import: upstream YAML (model.generator.*), then `model` (a preset and/or our keys). */
export function importedRarConfig(upstream: unknown, overrides: Readonly<Record<string, unknown>>, where: string): RarConfig {
  const { preset, ...rest } = overrides;
  if (preset !== undefined && preset !== 'rar-b' && preset !== 'rar-l')
    throw new PipelineError('CONFIG_INVALID', `${where}: model.preset is ${JSON.stringify(preset)}; use rar-b or rar-l`);
  const fromYaml = upstream === undefined ? {} : (fromUpstreamYaml(upstream) as Record<string, unknown>);
  const merged = { ...fromYaml, ...(preset === undefined ? {} : RAR_PRESETS[preset]), ...rest };
  const r = RarConfig.safeParse(merged);
  if (!r.success)
    throw new PipelineError(
      'CONFIG_INVALID',
      `${where}: RAR config ${r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')} (give upstreamConfig: configs/generator/rar.yaml, or model: {preset: rar-b | rar-l})`,
    );
  return r.data;
}

async function run(ctx: StageContext<WeightsImportConfig>): Promise<StageResult> {
  const c = ctx.config;
  const fetched = path.join(ctx.workdir, 'fetched');
  ctx.progress({ message: `fetching ${c.weights}` });
  const weights = (await fetchSource(c.weights, path.join(fetched, 'weights', sourceBaseName(c.weights)), { signal: ctx.signal })).path;
  if (c.sha256 !== undefined) {
    const digest = await sha256File(weights);
    if (digest !== c.sha256) throw new PipelineError('DATA_CORRUPT', `weights.import: ${c.weights} has sha256 ${digest}, the spec expects ${c.sha256}`);
  }
  let upstream: unknown;
  if (c.upstreamConfig !== undefined) {
    const file = (await fetchSource(c.upstreamConfig, path.join(fetched, 'config', sourceBaseName(c.upstreamConfig)), { signal: ctx.signal })).path;
    upstream = await readUpstreamConfig(file, c.upstreamConfig);
  }
  await initBackend({ log: (l) => ctx.log.info(l) });
  const reader = await SafetensorsReader.open(weights);
  const names = reader.names();
  await reader.close();
  const prefixes: Prefixes = c.prefixes === 'auto' ? detectPrefixes(names, c.arch) : c.prefixes;
  const where = `weights.import of ${c.weights}`;
  ctx.progress({ message: 'loading weights' });
  if (c.arch === 'rar') {
    if (prefixes.ema !== undefined) throw new PipelineError('CONFIG_INVALID', `${where}: RAR artifacts hold one set of weights; remove prefixes.ema`);
    const config = importedRarConfig(upstream, c.model, where);
    const model = new Rar(config, placeholderRng()); // strict load below: random draws would all be overwritten
    try {
      const r = await SafetensorsReader.open(weights);
      try {
        await loadStateDict(model.stateDict(), r, { prefix: prefixes.model, strict: true }).catch((e: unknown) => {
          throw withHint(
            e,
            `The RAR was built with hiddenSize ${config.hiddenSize}, numLayers ${config.numLayers}, numHeads ${config.numHeads}, intermediateSize ${config.intermediateSize}, imageSeqLen ${config.imageSeqLen}, codebookSize ${config.codebookSize}, numClasses ${config.numClasses}: set model (e.g. preset: rar-l for rar_l.bin) or upstreamConfig to the checkpoint's sizes.`,
          );
        });
      } finally {
        await r.close();
      }
      const out = path.join(ctx.workdir, 'generator');
      await saveRarArtifact(out, config, model.stateDict());
      ctx.log.info(`weights.import: RAR ${config.hiddenSize}×${config.numLayers} from ${c.weights}`);
      return { outputs: { generator: out }, metrics: { tensors: model.stateDict().size } };
    } finally {
      model.dispose();
    }
  }
  const config = importedTokenizerConfig(upstream, c.model, where);
  const models: RobustokTokenizer[] = [];
  try {
    const load = async (prefix: string) => {
      const m = new RobustokTokenizer(config, placeholderRng()); // strict load below
      models.push(m);
      await loadTokenizerWeights(m, weights, { prefix, onWarning: (w) => ctx.log.warn(w) });
      return m;
    };
    const model = await load(prefixes.model);
    const ema = prefixes.ema === undefined ? undefined : await load(prefixes.ema);
    const out = path.join(ctx.workdir, 'tokenizer');
    await saveTokenizerArtifact(out, { config, model: model.stateDict(), ema: ema?.stateDict() });
    ctx.log.info(
      `weights.import: tokenizer ${config.image_size}px/${config.patch_size}, width ${config.width}, codebook ${config.codebook_size}×${config.codebook_embed_dim}, ${ema ? 'model + EMA' : 'model only (no EMA entries)'} from ${c.weights}`,
    );
    return { outputs: { tokenizer: out }, metrics: { tensors: model.stateDict().size, ema: ema !== undefined ? 1 : 0 } };
  } finally {
    for (const m of models) m.dispose();
  }
}

function withHint(e: unknown, hint: string): unknown {
  if (e instanceof PipelineError && e.code === 'CHECKPOINT_MISMATCH')
    return new PipelineError('CHECKPOINT_MISMATCH', `${e.message}\n${hint}`, { cause: e, details: e.details });
  return e;
}

export const weightsImportStage: StageImpl<WeightsImportConfig> = { descriptor: weightsImportDescriptor, run };
