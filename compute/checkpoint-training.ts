/**
 * Training checkpoints: everything a resumed run needs, in one safetensors file.
 *
 *   model.<name>                 model state dict (parameters + buffers)
 *   ema.<name>                   EMA weights, when the run keeps an EMA
 *   optimizer.exp_avg.<name>     AdamW moments
 *   optimizer.exp_avg_sq.<name>
 *   __metadata__.robustok        JSON: { format, version, step, optimizer: {step}, rng: RngStreams state, extra }
 *
 * One file keeps the pieces consistent (no model from step N with moments from step N−1) and keeps
 * the artifact store's content digest meaningful. Metadata is JSON in one string because safetensors
 * metadata values must be strings.
 */
import type * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import type { AdamW, AdamWState } from '../models/training/adamw';
import type { Ema } from '../models/training/ema';
import type { RngStreams } from '../models/training/rng';
import { loadStateDict, type LoadReport } from './checkpoint';
import { SafetensorsReader, tensorEntries, writeSafetensors } from './safetensors';

export const TRAINING_CHECKPOINT_FORMAT = 'robustok-training-checkpoint';
export const TRAINING_CHECKPOINT_VERSION = 1;

export interface TrainingState {
  step: number;
  optimizer?: AdamWState;
  rng?: ReturnType<RngStreams['getState']>;
  /** Anything else the stage needs to resume (epoch, LeCAM EMAs, best metric…): small JSON. */
  extra?: Record<string, unknown>;
}

export interface TrainingParts {
  model: ReadonlyMap<string, tf.Variable>;
  ema?: Ema;
  optimizer?: AdamW;
}

export async function saveTrainingCheckpoint(path: string, parts: TrainingParts, state: TrainingState): Promise<void> {
  const named = new Map<string, tf.Tensor>();
  for (const [n, t] of parts.model) named.set(`model.${n}`, t);
  if (parts.ema) for (const [n, t] of parts.ema.tensors()) named.set(`ema.${n}`, t);
  if (parts.optimizer) for (const [n, t] of parts.optimizer.stateTensors()) named.set(`optimizer.${n}`, t);
  const meta = {
    format: TRAINING_CHECKPOINT_FORMAT,
    version: TRAINING_CHECKPOINT_VERSION,
    ...state,
    optimizer: parts.optimizer?.getState() ?? state.optimizer,
  };
  await writeSafetensors(path, tensorEntries(named), { metadata: { robustok: JSON.stringify(meta) } });
}

export interface LoadedTraining {
  state: TrainingState;
  model: LoadReport;
}

/**
 * Restores model (strict), EMA and optimizer from `path` and returns the saved state. Throws
 * CHECKPOINT_MISMATCH when the file is not a training checkpoint or does not match the parts.
 */
export async function loadTrainingCheckpoint(path: string, parts: TrainingParts): Promise<LoadedTraining> {
  const reader = await SafetensorsReader.open(path);
  try {
    const raw = reader.metadata.robustok;
    if (raw === undefined)
      throw new PipelineError(
        'CHECKPOINT_MISMATCH',
        `${path} is not a RobusTok training checkpoint (no "robustok" metadata); load plain weights with loadStateDictFile`,
      );
    const meta = JSON.parse(raw) as TrainingState & { format?: string; version?: number };
    if (meta.format !== TRAINING_CHECKPOINT_FORMAT || meta.version !== TRAINING_CHECKPOINT_VERSION) {
      throw new PipelineError(
        'CHECKPOINT_MISMATCH',
        `${path}: format ${meta.format} v${meta.version}, expected ${TRAINING_CHECKPOINT_FORMAT} v${TRAINING_CHECKPOINT_VERSION}`,
      );
    }
    const model = await loadStateDict(parts.model, reader, { prefix: 'model.' });
    if (parts.ema) {
      await loadStateDict(parts.ema.tensors(), reader, { prefix: 'ema.' });
    }
    if (parts.optimizer) {
      // one moment tensor in memory at a time: the moments are twice the model's size
      const optState = meta.optimizer ?? { step: 0 };
      parts.optimizer.loadState(optState, new Map());
      for (const key of reader.names()) {
        if (!key.startsWith('optimizer.')) continue;
        const t = await reader.readTensor(key);
        try {
          parts.optimizer.loadState(optState, new Map([[key.slice('optimizer.'.length), t]]));
        } finally {
          t.dispose();
        }
      }
    }
    const { step, optimizer, rng, extra } = meta;
    return { state: { step, optimizer, rng, extra }, model };
  } finally {
    await reader.close();
  }
}
