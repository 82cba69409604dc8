/**
 * ArtifactStore over a local directory. Writes go to a temp file in the same
 * directory tree and are renamed into place, so a crash never leaves a partial object.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import type { Readable } from 'node:stream';
import { PipelineError } from '../core/errors';
import { hashing } from './hashing';
import { checkKey, type ArtifactRef, type ArtifactStore, type BodySource, type ObjectStat } from './store';

const TMP_DIR = '.tmp';

export class LocalDirStore implements ArtifactStore {
  readonly uri: string;
  constructor(private readonly root: string) {
    this.root = path.resolve(root);
    this.uri = pathToFileURL(this.root).href;
  }

  private file(key: string): string {
    return path.join(this.root, ...checkKey(key).split('/'));
  }

  async put(key: string, body: BodySource): Promise<ArtifactRef> {
    const target = this.file(key);
    const tmpDir = path.join(this.root, TMP_DIR);
    await mkdir(tmpDir, { recursive: true });
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(tmpDir, `${randomUUID()}.part`);
    const h = hashing(typeof body === 'function' ? body() : body);
    try {
      await pipeline(h.stream, createWriteStream(tmp, { flags: 'wx' }));
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new PipelineError('STORE_ERROR', `could not write artifact '${key}' under ${this.root}: ${String(e)}`, { cause: e });
    }
    return { key, ...h.result() };
  }

  async get(key: string): Promise<Readable> {
    const file = this.file(key);
    if ((await this.stat(key)) === undefined) throw missing(key, this.uri);
    return createReadStream(file);
  }

  async getBytes(key: string): Promise<Buffer> {
    try {
      return await readFile(this.file(key));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing(key, this.uri);
      throw e;
    }
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    try {
      const s = await stat(this.file(key));
      return s.isFile() ? { key, bytes: s.size, modifiedMs: s.mtimeMs } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      for (const ent of entries) {
        if (rel === '' && ent.name === TMP_DIR) continue;
        const r = rel === '' ? ent.name : `${rel}/${ent.name}`;
        if (ent.isDirectory()) await walk(path.join(dir, ent.name), r);
        else if (ent.isFile() && r.startsWith(prefix)) out.push(r);
      }
    };
    // Start at the deepest directory the prefix names, not at the root.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart === '' ? this.root : path.join(this.root, ...dirPart.split('/')), dirPart);
    return out.sort();
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    const target = this.file(toKey);
    await mkdir(path.dirname(target), { recursive: true });
    try {
      await rename(this.file(fromKey), target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing(fromKey, this.uri);
      throw e;
    }
  }
}

function missing(key: string, uri: string): PipelineError {
  return new PipelineError('ARTIFACT_MISSING', `artifact '${key}' is not in the store ${uri}; rerun the stage that produces it`);
}
