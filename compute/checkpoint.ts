/**
 * Loading and saving model state through safetensors under the upstream PyTorch state-dict names.
 *
 *   loadStateDict    fills a model's variables from a file (or a `prefix.` section of one). Missing,
 *                    unexpected and shape-mismatched keys are collected first and reported together in
 *                    one CHECKPOINT_MISMATCH error (strict) or as warnings (non-strict); a strict failure
 *                    changes no variable. Tensors are read and assigned one at a time.
 *   saveStateDict    writes named tensors (f32 by default, f16/bf16 to halve the size).
 *
 * A released checkpoint converted with the README one-liner loads with prefix '' (its keys are the
 * model's names); training checkpoints (checkpoint-training.ts) keep model, EMA and optimizer tensors
 * in one file under `model.`, `ema.` and `optimizer.` prefixes.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { SafetensorsReader, tensorEntries, writeSafetensors } from './safetensors';

export interface LoadOptions {
  /** Default true: any missing, unexpected or mismatched key fails the load. */
  strict?: boolean;
  /** Only file keys starting with this prefix are considered, with it stripped (e.g. 'ema.'). */
  prefix?: string;
  /** File keys (after prefix stripping) to skip silently, e.g. upstream's frozen `semantic_model.` teacher. */
  ignore?: (name: string) => boolean;
  /** Receives each non-strict warning. */
  onWarning?: (message: string) => void;
}

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
  mismatched: { name: string; expected: number[]; found: number[] }[];
}

/** Fills `target` (name → variable, e.g. `model.stateDict()`) from an open reader. */
export async function loadStateDict(target: ReadonlyMap<string, tf.Variable>, reader: SafetensorsReader, o: LoadOptions = {}): Promise<LoadReport> {
  const prefix = o.prefix ?? '';
  const fileNames = new Map<string, string>(); // model name → file key
  for (const key of reader.names()) {
    if (!key.startsWith(prefix)) continue;
    const name = key.slice(prefix.length);
    if (o.ignore?.(name)) continue;
    fileNames.set(name, key);
  }
  const report: LoadReport = { loaded: [], missing: [], unexpected: [], mismatched: [] };
  for (const [name, v] of target) {
    const key = fileNames.get(name);
    if (key === undefined) {
      report.missing.push(name);
      continue;
    }
    const found = [...reader.info(key).shape];
    if (found.join() !== v.shape.join()) report.mismatched.push({ name, expected: [...v.shape], found });
  }
  for (const name of fileNames.keys()) if (!target.has(name)) report.unexpected.push(name);

  const problems = describeProblems(report);
  if (problems.length > 0) {
    const where = `${reader.path}${prefix ? ` (prefix "${prefix}")` : ''}`;
    if (o.strict ?? true) {
      throw new PipelineError(
        'CHECKPOINT_MISMATCH',
        `checkpoint ${where} does not match the model:\n  ${problems.join('\n  ')}\n` +
          'Check --arch/--config against the checkpoint, or load non-strictly to keep the matching tensors.',
        { details: { missing: report.missing, unexpected: report.unexpected, mismatched: report.mismatched } },
      );
    }
    for (const p of problems) o.onWarning?.(`checkpoint ${where}: ${p}`);
  }

  const skip = new Set(report.mismatched.map((m) => m.name));
  for (const [name, v] of target) {
    const key = fileNames.get(name);
    if (key === undefined || skip.has(name)) continue;
    const t = await reader.readTensor(key);
    try {
      // assign shares the data with the variable, so the (cast) tensor can be freed right after
      tf.tidy(() => v.assign(t.dtype === v.dtype ? t : tf.cast(t, v.dtype)));
    } finally {
      t.dispose();
    }
    report.loaded.push(name);
  }
  return report;
}

/** One line per problem kind, with up to 10 names each (the error's details hold the full lists). */
function describeProblems(r: LoadReport): string[] {
  const list = (xs: string[]) => xs.slice(0, 10).join(', ') + (xs.length > 10 ? `, … (${xs.length - 10} more)` : '');
  const out: string[] = [];
  if (r.missing.length) out.push(`missing ${r.missing.length} key(s) the model needs: ${list(r.missing)}`);
  if (r.unexpected.length) out.push(`unexpected ${r.unexpected.length} key(s) the model does not have: ${list(r.unexpected)}`);
  if (r.mismatched.length)
    out.push(
      `shape mismatch for ${r.mismatched.length} key(s): ${list(r.mismatched.map((m) => `${m.name} (model [${m.expected.join(', ')}], file [${m.found.join(', ')}])`))}`,
    );
  return out;
}

/** Opens `path`, loads into `target`, closes. */
export async function loadStateDictFile(target: ReadonlyMap<string, tf.Variable>, path: string, o: LoadOptions = {}): Promise<LoadReport> {
  const reader = await SafetensorsReader.open(path);
  try {
    return await loadStateDict(target, reader, o);
  } finally {
    await reader.close();
  }
}

/** Writes named tensors (a model's stateDict(), EMA weights, …) to a safetensors file. */
export async function saveStateDict(
  path: string,
  tensors: ReadonlyMap<string, tf.Tensor>,
  o: { dtype?: 'F32' | 'F16' | 'BF16'; metadata?: Record<string, string> } = {},
): Promise<void> {
  await writeSafetensors(path, tensorEntries(tensors, o.dtype), { metadata: o.metadata });
}
