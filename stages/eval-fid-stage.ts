/**
 * The `eval.fid` stage kind: wraps evalFid (stages/eval-fid.ts) for the stage runner. The full
 * report (with the feature network's provenance) is the `metrics` output; its numbers also become
 * the stage's metrics, so sweep summaries show FID per arm.
 */
import { existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../artifacts/hashing';
import type { Json } from '../core/canonical-json';
import { errorMessage, PipelineError } from '../core/errors';
import { evalFidDescriptor, type EvalFidStageConfig } from './eval-fid-config';
import { evalFid } from './eval-fid';
import type { StageContext, StageImpl, StageResult } from './stage';

/** The reference input, or its `referenceSubdir` folder (which must exist: a typo must not silently widen the reference). */
function referencePath(input: string | undefined, subdir: string | undefined): string {
  if (input === undefined || subdir === undefined) return input ?? '';
  const sub = path.join(input, subdir);
  if (!existsSync(sub) || !statSync(sub).isDirectory())
    throw new PipelineError(
      'INPUT_MISSING',
      `eval.fid: the reference input has no folder '${subdir}' (referenceSubdir); its entries are the reference, or fix the name`,
    );
  return sub;
}

/** The Inception weights: the `weights` input, else `weightsFile` once its bytes match the pinned digest. */
async function weightsPath(ctx: StageContext<EvalFidStageConfig>): Promise<string | undefined> {
  const { weightsFile, weightsSha256 } = ctx.config;
  if (ctx.inputs.weights !== undefined || weightsFile === undefined) return ctx.inputs.weights;
  let got: string;
  try {
    got = await sha256File(weightsFile);
  } catch (e) {
    throw new PipelineError(
      'INPUT_MISSING',
      `eval.fid: cannot read weightsFile ${weightsFile} on this worker (${errorMessage(e)}); workers must see the path the run was planned with — on a cluster wire the weights as the \`weights\` input (files.import)`,
    );
  }
  if (got !== weightsSha256)
    throw new PipelineError(
      'DIGEST_MISMATCH',
      `eval.fid: ${weightsFile} has sha256 ${got.slice(0, 16)}…, the run was planned with ${String(weightsSha256).slice(0, 16)}…: the file changed since; plan the run again`,
    );
  ctx.log.info(`Inception weights ${weightsFile} (sha256 ${got.slice(0, 16)}…)`);
  return weightsFile;
}

async function run(ctx: StageContext<EvalFidStageConfig>): Promise<StageResult> {
  const weights = await weightsPath(ctx);
  const report = await evalFid(
    {
      samplesPath: ctx.inputs.samples ?? '',
      referencePath: referencePath(ctx.inputs.reference, ctx.config.referenceSubdir),
      weightsPath: weights,
      randomWeightsSeed: ctx.config.randomWeightsSeed,
      batchSize: ctx.config.batchSize,
      precisionRecall: ctx.config.precisionRecall,
    },
    { progress: (done, total) => ctx.progress({ step: done, total, message: 'inception features' }), signal: ctx.signal, log: (l) => ctx.log.info(l) },
  );
  const file = path.join(ctx.workdir, 'metrics.json');
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  const metrics: Record<string, Json> = { fid: report.fid, n_a: report.n_a, n_b: report.n_b, weightsDigest: report.features.weightsDigest };
  for (const k of ['sfid', 'is', 'precision', 'recall'] as const) {
    const v = report[k];
    if (v !== undefined) metrics[k] = v;
  }
  return { outputs: { metrics: file }, metrics };
}

export const evalFidStage: StageImpl<EvalFidStageConfig> = { descriptor: evalFidDescriptor, run };
