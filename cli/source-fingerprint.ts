/**
 * The import stage kinds (files.import, weights.import) name a file or directory outside the store, and
 * their cache key would otherwise see only that name: regenerating a dataset at the same path served the
 * old copy from the cache. Before planning, the planner stats a local source and pins what it saw as
 * `sourceStat` in the stage's config — size and modification time of a file; for a directory, the
 * number of files, their total size and a digest of every (relative path, size, mtime) — so replacing,
 * adding, removing or touching a file changes the key, the way make and DVC notice changes, without
 * reading the bytes (ImageNet is 150 GB). A `sha256` pin already fixes a single file's content and is
 * left alone. Sources the planner cannot see (s3:// objects, a path that exists only on worker hosts)
 * keep the name-only key, as before; s3:// ETags are not fetched at plan time.
 */
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Json } from '../core/canonical-json';
import type { Spec } from '../spec';

/** Config field holding the source, per import kind. */
const SOURCE_FIELD: Readonly<Record<string, string>> = { 'files.import': 'source', 'weights.import': 'weights' };

/** What the planner saw at a local path, or undefined when it cannot see it. */
export async function statFingerprint(source: string): Promise<string | undefined> {
  if (source.startsWith('s3://')) return undefined;
  const root = source.startsWith('file://') ? fileURLToPath(source) : source;
  const st = await stat(root).catch(() => undefined);
  if (st === undefined) return undefined;
  if (st.isFile()) return `file size=${st.size} mtime=${Math.trunc(st.mtimeMs)}`;
  if (!st.isDirectory()) return undefined;
  const h = createHash('sha256');
  let files = 0;
  let bytes = 0;
  // depth-first in name order, so the digest does not depend on readdir's order
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries: Dirent[] = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = path.join(dir, e.name);
      const r = rel === '' ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(p, r);
      else if (e.isFile() || e.isSymbolicLink()) {
        const s = await stat(p).catch(() => undefined);
        if (s === undefined || !s.isFile()) continue;
        files += 1;
        bytes += s.size;
        h.update(`${r}\t${s.size}\t${Math.trunc(s.mtimeMs)}\n`);
      }
    }
  };
  await walk(root, '');
  return `dir files=${files} bytes=${bytes} listing=${h.digest('hex').slice(0, 32)}`;
}

/** The spec with `sourceStat` pinned on every import stage whose local source the planner can see. */
export async function pinSourceStats(spec: Spec): Promise<Spec> {
  const stages = await Promise.all(
    spec.stages.map(async (s) => {
      const field = SOURCE_FIELD[s.kind];
      const c = s.config as Record<string, Json> | null;
      if (field === undefined || c === null || typeof c !== 'object' || Array.isArray(c)) return s;
      const source = c[field];
      if (typeof source !== 'string' || typeof c.sha256 === 'string' || c.sourceStat !== undefined) return s;
      const seen = await statFingerprint(source);
      return seen === undefined ? s : { ...s, config: { ...c, sourceStat: seen } };
    }),
  );
  return { ...spec, stages };
}
