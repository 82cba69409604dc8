/**
 * Moves stage outputs between a worker's disk and the content-addressed store:
 * upload (hash while streaming, one read) and materialise (digest-verified download).
 */
import { constants, createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { digestJson } from '../core/digest';
import { PipelineError } from '../core/errors';
import { getBlob, putBlob } from './cas';
import { assertSafeEntry, pathProblem } from './entry-check';
import type { FileEntry, OutputEntry } from './manifest';
import type { ArtifactStore } from './store';

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
    // Store only names every reader accepts back (artifacts/entry-check.ts), or the entry could never be used.
    const problem = pathProblem(r);
    if (problem !== undefined) throw new PipelineError('COMMAND_FAILED', `output ${path.join(dir, r)} cannot be stored: ${problem}; rename it`);
    if (ent.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (ent.isFile()) out.push(r);
    else throw new PipelineError('COMMAND_FAILED', `output ${path.join(dir, r)} is neither a file nor a directory (symlinks are not stored)`);
  }
  return out.sort();
}

export async function uploadOutput(store: ArtifactStore, localPath: string): Promise<OutputEntry> {
  const st = await stat(localPath);
  if (st.isFile()) {
    const blob = await putBlob(store, () => createReadStream(localPath));
    return { type: 'file', digest: blob.digest, bytes: blob.bytes, fileName: path.basename(localPath) };
  }
  const files: FileEntry[] = [];
  for (const rel of await listFiles(localPath)) {
    const blob = await putBlob(store, () => createReadStream(path.join(localPath, rel)));
    files.push({ path: rel, digest: blob.digest, bytes: blob.bytes });
  }
  // A directory's identity is its file list: paths and contents, nothing else (no mtimes).
  return { type: 'dir', digest: digestJson(files), bytes: files.reduce((n, f) => n + f.bytes, 0), files };
}

/** Where an input is placed: `<dir>/<name>`, plus the producer's file extension for a file. */
export function inputPath(dir: string, name: string, entry: OutputEntry): string {
  return path.join(dir, entry.type === 'file' ? `${name}${path.extname(entry.fileName ?? '')}` : name);
}

// Create-only and never through a symlink: an existing name (a planted link included) fails instead of being followed.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Makes each directory of `segments` below `root`, refusing one that exists as anything but a real directory (a symlink, above all). */
async function realDirs(root: string, segments: readonly string[]): Promise<string> {
  let dir = root;
  for (const seg of segments) {
    dir = path.join(dir, seg);
    await mkdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    if (!(await lstat(dir)).isDirectory())
      throw new PipelineError('INTERNAL', `refusing to materialise through ${dir}: it exists and is not a plain directory (a symlink?)`);
  }
  return dir;
}

async function writeNew(store: ArtifactStore, blob: FileEntry | OutputEntry, file: string): Promise<void> {
  const source = await getBlob(store, blob);
  let handle;
  try {
    handle = await open(file, CREATE_NEW);
  } catch (e) {
    source.destroy();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ELOOP')
      throw new PipelineError('INTERNAL', `refusing to materialise over ${file}: it already exists (a symlink?)`, { cause: e });
    throw e;
  }
  // The stream owns the handle and closes it however the copy ends.
  await pipeline(source, handle.createWriteStream());
}

/**
 * Writes an entry read from the store at `target` (a new file or directory). `where` names the
 * entry in errors. The whole entry is checked before the first write: a path that is absolute,
 * climbs with '..' or is otherwise unsafe is ENTRY_CORRUPT and nothing lands on disk.
 */
export async function materialise(store: ArtifactStore, entry: OutputEntry, target: string, where = 'stored entry'): Promise<void> {
  assertSafeEntry(entry, where);
  await mkdir(path.dirname(target), { recursive: true });
  if (entry.type === 'file') {
    await writeNew(store, entry, target);
    return;
  }
  const root = await realDirs(path.dirname(target), [path.basename(target)]);
  for (const f of entry.files) {
    const segments = f.path.split('/');
    const dir = await realDirs(root, segments.slice(0, -1));
    await writeNew(store, f, path.join(dir, segments[segments.length - 1] ?? ''));
  }
}
