/**
 * Moves stage outputs between a worker's disk and the content-addressed store:
 * upload (hash while streaming, one read) and materialise (digest-verified download).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { digestJson } from '../core/digest';
import { PipelineError } from '../core/errors';
import { getBlob, putBlob } from '../artifacts/cas';
import type { FileEntry, OutputEntry } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';

async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
    if (ent.isDirectory()) out.push(...(await listFiles(dir, r)));
    else if (ent.isFile()) out.push(r);
    else throw new PipelineError('COMMAND_FAILED', `output ${path.join(dir, r)} is neither a file nor a directory (symlinks are not stored)`);
  }
  return out.sort();
}

export async function uploadOutput(store: ArtifactStore, localPath: string): Promise<OutputEntry> {
  const st = await stat(localPath);
  if (st.isFile()) {
    const blob = await putBlob(store, createReadStream(localPath));
    return { type: 'file', digest: blob.digest, bytes: blob.bytes, fileName: path.basename(localPath) };
  }
  const files: FileEntry[] = [];
  for (const rel of await listFiles(localPath)) {
    const blob = await putBlob(store, createReadStream(path.join(localPath, rel)));
    files.push({ path: rel, digest: blob.digest, bytes: blob.bytes });
  }
  // A directory's identity is its file list: paths and contents, nothing else (no mtimes).
  return { type: 'dir', digest: digestJson(files), bytes: files.reduce((n, f) => n + f.bytes, 0), files };
}

/** Where an input is placed: `<dir>/<name>`, plus the producer's file extension for a file. */
export function inputPath(dir: string, name: string, entry: OutputEntry): string {
  return path.join(dir, entry.type === 'file' ? `${name}${path.extname(entry.fileName ?? '')}` : name);
}

export async function materialise(store: ArtifactStore, entry: OutputEntry, target: string): Promise<void> {
  if (entry.type === 'file') {
    await mkdir(path.dirname(target), { recursive: true });
    await pipeline(await getBlob(store, entry), createWriteStream(target));
    return;
  }
  await mkdir(target, { recursive: true });
  for (const f of entry.files) {
    const p = path.join(target, ...f.path.split('/'));
    await mkdir(path.dirname(p), { recursive: true });
    await pipeline(await getBlob(store, f), createWriteStream(p));
  }
}
