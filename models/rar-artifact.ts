/**
 * RAR generator weights on disk (the `generator` output of generator.train, the input of sampling):
 *
 *   generator.json      {"arch": "rar", "config": {…RarConfig}}
 *   model.safetensors   weights under the upstream names
 *
 * `loadRar` also takes a bare safetensors file (a converted `rar_b.bin` / `rar_l.bin`) with a config
 * given separately.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { PipelineError, errorMessage } from '../core/errors';
import { loadStateDictFile, saveStateDict } from '../compute/checkpoint';
import { Rar } from './rar';
import { RarConfigInput, type RarConfig } from './rar-config';
import { placeholderRng } from './layers/placeholder-rng';

export const RAR_ARCH = 'rar';
export const GENERATOR_JSON = 'generator.json';
export const GENERATOR_WEIGHTS = 'model.safetensors';

export async function saveRarArtifact(dir: string, config: RarConfig, weights: ReadonlyMap<string, tf.Tensor>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, GENERATOR_JSON), `${JSON.stringify({ arch: RAR_ARCH, config }, null, 2)}\n`);
  await saveStateDict(path.join(dir, GENERATOR_WEIGHTS), weights);
}

/** Reads generator.json of an artifact directory. */
export async function readRarArtifactConfig(dir: string): Promise<RarConfig> {
  const file = path.join(dir, GENERATOR_JSON);
  let raw: { arch?: unknown; config?: unknown };
  try {
    raw = JSON.parse(await readFile(file, 'utf8')) as typeof raw;
  } catch (e) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${file}: cannot read the generator description (${errorMessage(e)}); expected a generator.train output directory`,
      { cause: e },
    );
  }
  if (raw.arch !== RAR_ARCH) throw new PipelineError('CHECKPOINT_MISMATCH', `${file}: arch is ${JSON.stringify(raw.arch)}, expected "${RAR_ARCH}"`);
  const parsed = RarConfigInput.safeParse(raw.config);
  if (!parsed.success)
    throw new PipelineError(
      'CHECKPOINT_MISMATCH',
      `${file}: invalid RAR config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/**
 * Builds a RAR from an artifact directory, or from a safetensors file plus `config`. Strict: a missing,
 * unexpected or mis-shaped key is a CHECKPOINT_MISMATCH naming it with both shapes.
 */
export async function loadRar(source: string, config?: RarConfig): Promise<Rar> {
  const isDir = (await stat(source).catch(() => undefined))?.isDirectory() ?? false;
  const cfg = isDir ? await readRarArtifactConfig(source) : config;
  if (!cfg) throw new PipelineError('CONFIG_INVALID', `${source} is a weights file: pass the RAR config with it`);
  const model = new Rar(cfg, placeholderRng()); // every weight comes from the file: no random draws to overwrite
  try {
    await loadStateDictFile(model.stateDict(), isDir ? path.join(source, GENERATOR_WEIGHTS) : source);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
