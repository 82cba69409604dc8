/**
 * Config and I/O of the `dataset.synthetic` stage kind (pure: the catalog imports it without the
 * generator). No inputs; one output, `dataset`: an ImageFolder tree with train/ and val/ splits and
 * a dataset.json (data/synthetic-images.ts).
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';

export const datasetSyntheticConfigSchema = z.strictObject({
  /** Side of the square images, in pixels. */
  imageSize: z.number().int().min(8).max(1024).default(32),
  numClasses: z.number().int().min(1).max(1000).default(10),
  trainPerClass: z.number().int().min(1).max(1_000_000).default(100),
  valPerClass: z.number().int().min(0).max(1_000_000).default(20),
  /** Generator seed; defaults to the stage's seed. */
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
});

export type DatasetSyntheticConfig = z.output<typeof datasetSyntheticConfigSchema>;

export const datasetSyntheticDescriptor: StageDescriptor<DatasetSyntheticConfig> = {
  kind: 'dataset.synthetic',
  version: '1',
  description: 'Class-conditional procedural images (shape, texture and palette per class) in ImageFolder layout with train/val splits.',
  configSchema: datasetSyntheticConfigSchema,
  inputs: () => ({ required: [] }),
  outputs: () => ['dataset'],
};
