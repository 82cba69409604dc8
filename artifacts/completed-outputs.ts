/**
 * Finished work survives a failed upload. When a stage's program has finished, the attempt writes
 * `<workRoot>/<key16>/outputs-complete.json`: where its outputs are (inside its kept workdir), its
 * metrics, and a fingerprint (path, size, mtime) of every output file. If the upload then fails (the
 * store is down longer than the retries wait), the next attempt of the same key on this worker
 * finds the note, checks the files are still exactly as they were left, and uploads them instead
 * of running the stage again. The note goes when the manifest is committed.
 *
 * Fingerprints rather than digests: hashing the outputs before uploading would read every byte
 * twice, while the upload hashes them anyway (and the digest is what the manifest records).
 * A file touched since the note was written has a new mtime, and the stage simply runs again.
 */
import { randomUUID } from 'node:crypto';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Json } from '../core/canonical-json';

const NOTE = 'outputs-complete.json';

interface Fingerprint {
  readonly path: string;
  readonly bytes: number;
  readonly mtimeMs: number;
}

export interface CompletedOutputs {
  readonly key: string;
  /** The activity execution that produced them (a nondeterministic stage reuses only its own). */
  readonly execution: string;
  readonly attempt: number;
  /** The kept workdir holding the outputs. */
  readonly workdir: string;
  readonly outputs: Readonly<Record<string, string>>;
  readonly metrics: Readonly<Record<string, Json>>;
  readonly files: readonly Fingerprint[];
}

export const completedNote = (workRoot: string, key: string) => path.join(workRoot, key.slice(0, 16), NOTE);

async function fingerprints(paths: readonly string[]): Promise<Fingerprint[]> {
  const out: Fingerprint[] = [];
  const walk = async (p: string): Promise<void> => {
    const st = await stat(p);
    if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await walk(path.join(p, name));
    } else out.push({ path: p, bytes: st.size, mtimeMs: st.mtimeMs });
  };
  for (const p of paths) await walk(p);
  return out;
}

export async function recordCompleted(workRoot: string, c: Omit<CompletedOutputs, 'files'>): Promise<void> {
  const file = completedNote(workRoot, c.key);
  const note: CompletedOutputs = { ...c, files: await fingerprints(Object.values(c.outputs)) };
  const tmp = `${file}.${randomUUID().slice(0, 8)}.tmp`;
  await writeFile(tmp, JSON.stringify(note), { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * The note for `key` when its outputs can be uploaded as they are: same key, every declared output
 * listed, files unchanged. A stale or unusable note is removed and undefined returned.
 */
export async function findCompleted(
  workRoot: string,
  o: { key: string; execution: string; deterministic: boolean; declared: readonly string[] },
): Promise<CompletedOutputs | undefined> {
  const file = completedNote(workRoot, o.key);
  let note: CompletedOutputs;
  try {
    note = JSON.parse(await readFile(file, 'utf8')) as CompletedOutputs;
  } catch {
    return undefined;
  }
  const usable =
    note.key === o.key &&
    (o.deterministic || note.execution === o.execution) &&
    o.declared.every((n) => typeof note.outputs[n] === 'string') &&
    JSON.stringify(await fingerprints(o.declared.map((n) => note.outputs[n] ?? '')).catch(() => undefined)) === JSON.stringify(note.files);
  if (usable) return note;
  await rm(file, { force: true });
  return undefined;
}

/** After the manifest is committed: the note and the workdir it pointed to have served their purpose. */
export async function clearCompleted(workRoot: string, note: Pick<CompletedOutputs, 'key'> & { workdir?: string }): Promise<void> {
  await rm(completedNote(workRoot, note.key), { force: true });
  if (note.workdir !== undefined) await rm(note.workdir, { recursive: true, force: true });
}
