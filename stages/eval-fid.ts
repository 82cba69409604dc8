/**
 * Core of the `eval.fid` stage: a samples .npz (arr_0 uint8 N×H×W×3) against a reference
 * (ADM reference batch .npz with mu/sigma[/mu_s/sigma_s/arr_0], a samples .npz, an image folder
 * or an .npy feature matrix) → metrics JSON with the feature network's provenance.
 * Extraction runs in batches of `batchSize` images; with a store, the extracted features are
 * cached as an artifact keyed by content digest + weights digest (data/fid-inputs.ts), so a
 * re-run or a second reference reuses them. The stage wrapper (registry, manifest) is added by
 * the stage framework; this function is independent of Temporal.
 */
import type { ArtifactStore } from '../artifacts/store';
import { initBackend } from '../compute/backend';
import { PipelineError } from '../core/errors';
import { loadEvalSide } from '../data/fid-inputs';
import { fidReport, type FidReport } from '../metrics/fid-report';
import { FidInception } from '../models/inception';
import { loadInceptionWeights } from '../models/inception-weights';

export const EVAL_FID_VERSION = 1;

export interface EvalFidConfig {
  samplesPath: string;
  referencePath: string;
  /** Converted FID Inception weights (safetensors). Required unless randomWeightsSeed is set. */
  weightsPath?: string;
  /** Explicit opt-in to a randomly initialised network (smoke runs); its numbers are not comparable with published ones. */
  randomWeightsSeed?: number;
  batchSize: number;
  /** Compute precision/recall against the reference batch's arr_0 images (costly: runs the network on them). */
  precisionRecall?: boolean;
  store?: ArtifactStore;
}

export interface EvalFidContext {
  progress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

/** Images per feature-extraction batch unless told otherwise (`robustok fid` and the eval.fid stage alike). */
export const FID_BATCH_SIZE = 50;

export type EvalFidMetrics = FidReport & { stage: { kind: 'eval.fid'; version: number } };

/** Builds the network factory shared by the stage and the CLI: weights file, or explicit random init. */
export function networkFactory(cfg: { weightsPath?: string; randomWeightsSeed?: number }, log?: (l: string) => void): () => Promise<FidInception> {
  let net: Promise<FidInception> | undefined;
  return () => {
    net ??= (async () => {
      await initBackend({ log: log ?? null });
      if (cfg.weightsPath) return FidInception.fromWeights(await loadInceptionWeights(cfg.weightsPath));
      if (cfg.randomWeightsSeed !== undefined) {
        log?.(`WARNING: randomly initialised Inception (seed ${cfg.randomWeightsSeed}): metrics are NOT comparable with published FID`);
        return FidInception.randomlyInitialised(cfg.randomWeightsSeed);
      }
      throw new PipelineError(
        'CONFIG_INVALID',
        'Inception weights are required to compute features of images: pass the converted pt_inception-2015-12-05 safetensors file (CLI: --weights FILE or ROBUSTOK_FID_WEIGHTS; eval.fid: weightsPath; conversion: README "FID Inception weights"), or explicitly opt into a randomly initialised network for a smoke run (--random-weights SEED / randomWeightsSeed)',
      );
    })();
    return net;
  };
}

export async function evalFid(cfg: EvalFidConfig, ctx: EvalFidContext = {}): Promise<EvalFidMetrics> {
  if (!Number.isInteger(cfg.batchSize) || cfg.batchSize < 1)
    throw new PipelineError('CONFIG_INVALID', `eval.fid: batchSize must be a positive integer, got ${cfg.batchSize}`);
  const network = networkFactory(cfg, ctx.log);
  const common = { network, batchSize: cfg.batchSize, store: cfg.store, log: ctx.log, ctx: { progress: ctx.progress, signal: ctx.signal } };
  const reference = await loadEvalSide(cfg.referencePath, { ...common, referenceImagesForPR: cfg.precisionRecall === true });
  const samples = await loadEvalSide(cfg.samplesPath, common);
  return { ...fidReport(reference, samples), stage: { kind: 'eval.fid', version: EVAL_FID_VERSION } };
}
