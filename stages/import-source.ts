/**
 * Where the import stage kinds (files.import, weights.import) read from: a file or directory outside
 * the pipeline, named by a source string that means the same on every worker host:
 *   /abs/path | file:///abs/path        a file or a directory on the worker's filesystem
 *   s3://bucket/key                     one object, or every object under key/ (a "directory"),
 *                                       through the store layer (ROBUSTOK_S3_ENDPOINT and credentials)
 * Relative paths are refused: a worker's working directory is not the planning host's.
 * The cache key sees the source string plus, for local paths the planner can see, their sizes and
 * modification times (cli/source-fingerprint.ts); `sha256` pins a file's content.
 */
import { constants, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { openStore } from '../artifacts/open-store';
import { PipelineError, errorMessage } from '../core/errors';

const S3 = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+)$/;

/** Why `s` is not a source (undefined ⇒ it is one). Pure: config schemas use it. */
export function sourceProblem(s: string): string | undefined {
  if (s.startsWith('s3://')) {
    const m = S3.exec(s);
    if (!m || (m[2] ?? '').split('/').some((p) => p === '' || p === '.' || p === '..'))
      return `"${s}" is not s3://bucket/key (a key without empty, . or .. parts)`;
    return undefined;
  }
  if (s.startsWith('file://')) return s.startsWith('file:///') ? undefined : `"${s}" is not a file:/// URI with an absolute path`;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) return `"${s}": unsupported scheme; use an absolute path, file:///… or s3://bucket/key`;
  if (!path.isAbsolute(s)) return `"${s}" is relative: give an absolute path (workers resolve it on their own host), file:///… or s3://bucket/key`;
  return undefined;
}

export const sourceField = z.string().superRefine((s, ctx) => {
  const why = sourceProblem(s);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

export const sha256Field = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 is 64 lowercase hex digits');

/** The last path segment of a source (the name its copy keeps, so extensions such as .npz survive). */
export function sourceBaseName(source: string): string {
  const p = source.startsWith('file://') ? fileURLToPath(source) : source;
  return path.posix.basename(p.replace(/\/+$/, '')) || 'source';
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Called after each file copied from S3 (a directory source copies many). */
  onFile?: (done: number, key: string) => void;
}

export interface Fetched {
  readonly path: string;
  readonly type: 'file' | 'dir';
  readonly files: number;
}

/**
 * Copies the source to `dest` (which must not exist). A missing source is INPUT_MISSING naming it;
 * S3 outages are waited out by the store layer (ROBUSTOK_STORE_RETRY_MAX).
 */
export async function fetchSource(source: string, dest: string, o: FetchOptions = {}): Promise<Fetched> {
  const why = sourceProblem(source);
  if (why !== undefined) throw new PipelineError('CONFIG_INVALID', why);
  await mkdir(path.dirname(dest), { recursive: true });
  if (source.startsWith('s3://')) return fetchS3(source, dest, o);
  const local = source.startsWith('file://') ? fileURLToPath(source) : source;
  const st = await stat(local).catch((e: unknown) => {
    throw new PipelineError(
      'INPUT_MISSING',
      `import source ${source} cannot be read on this worker (${errorMessage(e)}); the path must exist on every host whose workers poll this stage's queue`,
      { cause: e },
    );
  });
  if (!st.isDirectory()) {
    await copyFile(local, dest, constants.COPYFILE_EXCL);
    o.onFile?.(1, local);
    return { path: dest, type: 'file', files: 1 };
  }
  // File by file, so a 1.3M-image folder reports progress (a stage silent for its heartbeat timeout is presumed dead).
  let done = 0;
  const walk = async (from: string, to: string): Promise<void> => {
    await mkdir(to);
    for (const ent of (await readdir(from, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      o.signal?.throwIfAborted();
      const src = path.join(from, ent.name);
      // stat follows links: a dataset folder of symlinks (common for ImageNet mirrors) imports the files they name
      const kind = ent.isSymbolicLink() ? await stat(src) : ent;
      if (kind.isDirectory()) await walk(src, path.join(to, ent.name));
      else if (kind.isFile()) {
        await copyFile(src, path.join(to, ent.name), constants.COPYFILE_EXCL);
        o.onFile?.(++done, src);
      }
    }
  };
  await walk(local, dest);
  return { path: dest, type: 'dir', files: done };
}

async function fetchS3(source: string, dest: string, o: FetchOptions): Promise<Fetched> {
  const m = S3.exec(source);
  const bucket = m?.[1] ?? '';
  const key = (m?.[2] ?? '').replace(/\/+$/, '');
  const store = openStore(`s3://${bucket}`);
  if (!source.endsWith('/') && (await store.stat(key)) !== undefined) {
    await pipeline(await store.get(key), createWriteStream(dest, { flags: 'wx' }), { signal: o.signal });
    o.onFile?.(1, key);
    return { path: dest, type: 'file', files: 1 };
  }
  const keys = await store.list(`${key}/`);
  if (keys.length === 0) throw new PipelineError('INPUT_MISSING', `import source ${source}: no object ${key} and nothing under ${key}/ in bucket ${bucket}`);
  let done = 0;
  for (const k of keys) {
    o.signal?.throwIfAborted();
    const target = path.join(dest, ...k.slice(key.length + 1).split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await pipeline(await store.get(k), createWriteStream(target, { flags: 'wx' }), { signal: o.signal });
    o.onFile?.(++done, k);
  }
  return { path: dest, type: 'dir', files: keys.length };
}
