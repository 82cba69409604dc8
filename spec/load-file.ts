/**
 * loadSpecFile: reads a spec file and validates it (loadSpecText). The only spec/ file with I/O.
 * Positions name the file as given (relative paths stay relative), so messages are clickable.
 */
import { readFile } from 'node:fs/promises';
import { errorMessage } from '../core/errors';
import { err, type Result } from '../core/result';
import type { StageCatalog } from '../stages/descriptor';
import { loadSpecText } from './load';
import type { LoadedSpec, SpecIssue } from './types';

/** Reads and validates `path`; an unreadable file is a FILE_UNREADABLE issue, not an exception. */
export async function loadSpecFile(path: string, catalog: StageCatalog, overrides: readonly string[] = []): Promise<Result<LoadedSpec, SpecIssue[]>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    return err([{ code: 'FILE_UNREADABLE', path: '', message: `cannot read the spec: ${errorMessage(e)}`, file: path, line: 0, column: 0 }]);
  }
  return loadSpecText(text, path, catalog, overrides);
}
