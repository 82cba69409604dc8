/**
 * What a failed attempt leaves on the worker's disk. Its workdir stays for inspection, but only the
 * newest failed one per stage key: before, every failed attempt kept its workdir forever (222 MB in
 * an hour of testing). A workdir is pruned only when it carries the failure mark (so never one of a
 * running or killed attempt: `robustok gc` decides about those) and does not hold finished outputs
 * still waiting to be uploaded (outputs-complete.json names it).
 *
 * A full work disk is DISK_FULL, non-retryable and naming the path: another attempt on the same disk
 * would only fail the same way, and the worker itself must keep running.
 */
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PipelineError, errorMessage } from '../core/errors';

const FAILED_MARK = '.attempt-failed';
const NOTE = 'outputs-complete.json';

/** Marks `workdir` failed and removes the other failed workdirs of its stage key; returns what it removed. */
export async function keepNewestFailed(workdir: string): Promise<string[]> {
  // Unmarkable (never created, or the disk is full): the others are still pruned, which frees space.
  await writeFile(path.join(workdir, FAILED_MARK), `${new Date().toISOString()}\n`, { mode: 0o600 }).catch(() => undefined);
  const keyDir = path.dirname(workdir);
  const waiting = await readFile(path.join(keyDir, NOTE), 'utf8')
    .then((t) => (JSON.parse(t) as { workdir?: string }).workdir)
    .catch(() => undefined);
  const removed: string[] = [];
  for (const name of await readdir(keyDir).catch(() => [] as string[])) {
    const p = path.join(keyDir, name);
    if (p === workdir || p === waiting || !name.startsWith('attempt-')) continue;
    if ((await stat(path.join(p, FAILED_MARK)).catch(() => undefined)) === undefined) continue;
    await rm(p, { recursive: true, force: true });
    removed.push(p);
  }
  return removed;
}

const FULL_CODES = ['ENOSPC', 'EDQUOT'];
const FULL_TEXT = /No space left on device|Disk quota exceeded|ENOSPC|EDQUOT/;

/** The ENOSPC/EDQUOT under an error (its cause chain, or a program's stderr quoted in its message). */
export function isDiskFull(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur !== undefined && cur !== null && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (FULL_CODES.includes((cur as { code?: string }).code ?? '')) return true;
    if (cur instanceof Error && FULL_TEXT.test(cur.message)) return true;
  }
  return false;
}

export function diskFullError(e: unknown, workdir: string): PipelineError {
  return new PipelineError(
    'DISK_FULL',
    `the work disk is full at ${workdir} (${errorMessage(e).split('\n')[0] ?? ''}; this attempt's workdir was removed): free space there — 'robustok gc --keep-runs N --apply' removes old workdirs — or give the worker a larger disk for its work root (${path.dirname(path.dirname(workdir))})`,
    { cause: e },
  );
}
