/**
 * `robustok get <run> <stage>.<output> <dest> [--force]`: exports a stage output (a file or a
 * directory) from the store. Every blob's digest is checked while it is written; the export lands
 * in a temporary sibling first and is renamed into place only when complete, so a failed or
 * corrupt download never leaves a half-written dest. A non-empty dest is replaced only with --force.
 */
import { randomUUID } from 'node:crypto';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { lookupManifest, type OutputEntry } from '../../artifacts/manifest';
import { openStore } from '../../artifacts/open-store';
import { PipelineError } from '../../core/errors';
import { materialise } from '../../artifacts/outputs';
import { defaultStoreUri } from '../state-dir';
import { findStageRun, formatBytes, resolveRun } from '../run-history';

/** 'empty' when dest may be replaced without --force. */
async function destState(dest: string): Promise<'absent' | 'empty' | 'full'> {
  const st = await lstat(dest).catch(() => undefined);
  if (st === undefined) return 'absent';
  if (st.isDirectory()) return (await readdir(dest)).length === 0 ? 'empty' : 'full';
  return st.isFile() && st.size === 0 ? 'empty' : 'full';
}

export async function getCommand(run: string, ref: string, dest: string, o: { force?: boolean; json?: boolean; store?: string }): Promise<number> {
  const dot = ref.indexOf('.');
  if (dot <= 0 || dot === ref.length - 1) {
    console.error(`'${ref}' is not <stage>.<output>, e.g. train.ckpt`);
    return 2;
  }
  const [stageName, output] = [ref.slice(0, dot), ref.slice(dot + 1)];
  const store = openStore(o.store ?? defaultStoreUri());
  const record = await resolveRun(store, run);
  const stage = findStageRun(record, stageName);
  let entry = stage.outputs[output] as OutputEntry | undefined;
  if (entry === undefined) {
    const why =
      stage.outcome === 'failed' || stage.outcome === 'skipped'
        ? `it ${stage.outcome} in this run`
        : `its outputs are ${Object.keys(stage.outputs).join(', ') || 'none'}`;
    throw new PipelineError('INPUT_MISSING', `stage ${stage.id} of run ${record.runId} has no output '${output}': ${why}`);
  }
  // Records written by older versions may lack a directory's file list: the cache entry has it.
  if (entry.type === 'dir' && !Array.isArray(entry.files) && stage.key !== undefined) {
    const m = await lookupManifest(store, stage.key, { verify: false });
    if (m.state === 'hit') entry = m.manifest.outputs[output];
  }
  if (entry === undefined) throw new PipelineError('ARTIFACT_MISSING', `the cache entry of stage ${stage.id} no longer lists output '${output}'`);

  const target = path.resolve(dest);
  const state = await destState(target);
  if (state === 'full' && o.force !== true) {
    console.error(`refusing to overwrite ${target}: it exists and is not empty (--force replaces it)`);
    return 1;
  }
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.robustok-get-${randomUUID().slice(0, 8)}`);
  try {
    await materialise(store, entry, tmp, `output '${output}' of stage ${stage.id} in run ${record.runId}`);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (state !== 'absent') await rm(target, { recursive: true, force: true });
  await rename(tmp, target);

  const files = entry.type === 'dir' ? entry.files.length : 1;
  const summary = { runId: record.runId, stage: stage.id, output, type: entry.type, digest: entry.digest, bytes: entry.bytes, files, dest: target };
  if (o.json) console.log(JSON.stringify(summary, null, 2));
  else
    console.log(
      `${stage.id}.${output} (${entry.type}${entry.type === 'dir' ? `, ${files} files` : ''}, ${formatBytes(entry.bytes)}, sha256 ${entry.digest.slice(0, 16)}…) → ${target}`,
    );
  return 0;
}
