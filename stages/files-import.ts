/**
 * The `files.import` stage kind: copies its source into <workdir>/import/<name> and hands that to the
 * store as the `files` output (see files-import-config.ts).
 */
import path from 'node:path';
import { PipelineError } from '../core/errors';
import { filesImportDescriptor, type FilesImportConfig } from './files-import-config';
import { sha256File } from '../artifacts/hashing';
import { fetchSource, sourceBaseName } from './import-source';
import type { StageContext, StageImpl, StageResult } from './stage';

async function run(ctx: StageContext<FilesImportConfig>): Promise<StageResult> {
  const c = ctx.config;
  const dest = path.join(ctx.workdir, 'import', sourceBaseName(c.source));
  ctx.progress({ message: `copying ${c.source}` });
  const got = await fetchSource(c.source, dest, {
    signal: ctx.signal,
    onFile: (done) => {
      if (done % 1000 === 0) ctx.progress({ step: done, message: 'files' });
    },
  });
  if (c.sha256 !== undefined) {
    if (got.type !== 'file')
      throw new PipelineError('CONFIG_INVALID', `files.import: sha256 pins a single file, but ${c.source} is a directory; remove sha256`);
    const digest = await sha256File(got.path);
    if (digest !== c.sha256)
      throw new PipelineError(
        'DATA_CORRUPT',
        `files.import: ${c.source} has sha256 ${digest}, the spec expects ${c.sha256}: the file changed or is not the one the spec names`,
      );
  }
  ctx.log.info(`files.import: ${c.source} → ${got.type} (${got.files} file(s))`);
  return { outputs: { files: got.path } };
}

export const filesImportStage: StageImpl<FilesImportConfig> = { descriptor: filesImportDescriptor, run };
