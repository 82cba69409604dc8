/**
 * The `dataset.synthetic` stage kind: writes the procedural dataset (data/synthetic-images.ts) to
 * <workdir>/dataset. Deterministic: the same config and seed give byte-identical files, so the
 * output digest, and every downstream cache key, is stable across hosts.
 */
import path from 'node:path';
import { writeSyntheticDataset } from '../data/synthetic-images';
import { datasetSyntheticDescriptor, type DatasetSyntheticConfig } from './dataset-synthetic-config';
import type { StageContext, StageImpl, StageResult } from './stage';

async function run(ctx: StageContext<DatasetSyntheticConfig>): Promise<StageResult> {
  const c = ctx.config;
  const dir = path.join(ctx.workdir, 'dataset');
  const every = Math.max(1, Math.floor((c.numClasses * (c.trainPerClass + c.valPerClass)) / 100));
  const info = await writeSyntheticDataset(
    dir,
    { imageSize: c.imageSize, numClasses: c.numClasses, trainPerClass: c.trainPerClass, valPerClass: c.valPerClass, seed: c.seed ?? ctx.seed },
    {
      signal: ctx.signal,
      progress: (done, total) => {
        if (done % every === 0 || done === total) ctx.progress({ step: done, total, message: 'images' });
      },
    },
  );
  ctx.log.info(
    `dataset.synthetic: ${info.splits.train.count} train + ${info.splits.val.count} val images, ${info.numClasses} classes, ${info.imageSize} px, seed ${info.seed}`,
  );
  return { outputs: { dataset: dir }, metrics: { train_images: info.splits.train.count, val_images: info.splits.val.count, classes: info.numClasses } };
}

export const datasetSyntheticStage: StageImpl<DatasetSyntheticConfig> = { descriptor: datasetSyntheticDescriptor, run };
