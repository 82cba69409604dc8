/**
 * Config and I/O of the `files.import` stage kind (pure): brings a file or directory from outside the
 * pipeline (a dataset such as ImageNet, the ADM reference batch, loss-network or FID weights) into the
 * store as the `files` output, so downstream stages get it as an input whose digest is part of their
 * cache keys. The file keeps its name, so `.npz` / `.safetensors` inputs are recognised by extension.
 */
import { z } from 'zod';
import type { StageDescriptor } from './descriptor';
import { sha256Field, sourceField } from './import-source';

export const filesImportConfigSchema = z.strictObject({
  /** Absolute path, file:///… or s3://bucket/key (an object, or every object under key/). */
  source: sourceField,
  /**
   * Expected sha256 of a single-file source: a mismatch fails the stage. Without it the key sees the
   * source string plus `sourceStat` (sizes and modification times, when the planner can see the path).
   */
  sha256: sha256Field.optional(),
  /**
   * Set by the planner, not by hand: what it saw at a local source (cli/source-fingerprint.ts), so
   * files replaced at the same path change the cache key. The stage does not read it.
   */
  sourceStat: z.string().optional(),
});

export type FilesImportConfig = z.output<typeof filesImportConfigSchema>;

export const filesImportDescriptor: StageDescriptor<FilesImportConfig> = {
  kind: 'files.import',
  version: '1',
  description: 'Copies a file or directory from an absolute path or s3:// URI into the store (output `files`), optionally checking a sha256.',
  configSchema: filesImportConfigSchema,
  inputs: () => ({ required: [] }),
  outputs: () => ['files'],
};
