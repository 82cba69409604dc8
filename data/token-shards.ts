/**
 * Pretokenized datasets on disk (algorithm dossier §4, with the intended content: integer code ids).
 *
 *   <dir>/manifest.json      TokenManifest (below)
 *   <dir>/shard-00000.jsonl  one line per entry: {"class_id": int, "tokens": [int × seq_len]}
 *
 * Order is deterministic: images in ImageFolder order (class, then path), then each image's views in
 * crop order (flip: original, mirrored; ten-crop: torchvision TenCrop order). Shard k holds the
 * entries of images [k·imagesPerShard, (k+1)·imagesPerShard), so shard names are global: parts encoded
 * by different activities (`part` in the manifest) merge by concatenating their shard lists.
 */
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PipelineError } from '../core/errors';

export const TOKEN_MANIFEST = 'manifest.json';
export const TOKEN_FORMAT = 'robustok.pretokenized';

export type PretokenizeMode = 'flip' | 'ten-crop';

export interface TokenManifest {
  readonly format: typeof TOKEN_FORMAT;
  readonly version: 1;
  /** Lines over all shards listed here. */
  readonly count: number;
  readonly seq_len: number;
  readonly codebook_size: number;
  readonly num_classes: number;
  readonly classes: readonly string[];
  readonly mode: PretokenizeMode;
  readonly entries_per_image: number;
  readonly image_size: number;
  readonly images_per_shard: number;
  /** Images of the whole dataset (all parts). */
  readonly total_images: number;
  readonly shards: readonly string[];
  /** Lines per shard, aligned with `shards` (fewer than images_per_shard × entries_per_image only in the last shard or where corrupt images were skipped). */
  readonly shard_counts: readonly number[];
  /** Which tokenizer weights encoded it. */
  readonly weights: 'ema' | 'model';
  /** Present when this directory holds only a range of the dataset's shards. */
  readonly part?: { readonly index: number; readonly count: number; readonly total_shards: number };
}

export interface TokenEntry {
  readonly class_id: number;
  readonly tokens: number[];
}

export function shardName(index: number): string {
  return `shard-${String(index).padStart(5, '0')}.jsonl`;
}

export function entryLine(classId: number, tokens: ArrayLike<number>): string {
  return `${JSON.stringify({ class_id: classId, tokens: Array.from(tokens) })}\n`;
}

/** Shards [first, end) of `totalShards` that part `index` of `count` encodes: contiguous, balanced. */
export function partShardRange(totalShards: number, index: number, count: number): [number, number] {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new PipelineError('CONFIG_INVALID', `part ${index} of ${count}: need 0 ≤ index < count`);
  }
  return [Math.floor((index * totalShards) / count), Math.floor(((index + 1) * totalShards) / count)];
}

export async function readTokenManifest(dir: string): Promise<TokenManifest> {
  const file = path.join(dir, TOKEN_MANIFEST);
  let m: TokenManifest;
  try {
    m = JSON.parse(await readFile(file, 'utf8')) as TokenManifest;
  } catch (e) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${dir} is not a pretokenized dataset: cannot read ${TOKEN_MANIFEST} (${(e as Error).message}); produce it with a tokenizer.pretokenize stage`,
      { cause: e },
    );
  }
  if (m.format !== TOKEN_FORMAT || !Array.isArray(m.shards) || !Array.isArray(m.shard_counts) || m.shards.length !== m.shard_counts.length) {
    throw new PipelineError('DATA_CORRUPT', `${file}: not a ${TOKEN_FORMAT} manifest (format, shards and shard_counts expected)`);
  }
  for (const s of m.shards as unknown[]) {
    if (typeof s !== 'string' || path.basename(s) !== s)
      throw new PipelineError('DATA_CORRUPT', `${file}: shard name ${JSON.stringify(s)} must be a plain file name`);
  }
  return m;
}

/** Every entry of a pretokenized directory, in order; each line is checked against the manifest. */
export async function* readTokenEntries(dir: string): AsyncGenerator<TokenEntry> {
  const m = await readTokenManifest(dir);
  for (const [k, shard] of m.shards.entries()) {
    const file = path.join(dir, shard);
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let n = 0;
    for await (const line of lines) {
      if (line === '') continue;
      n++;
      let e: TokenEntry;
      try {
        e = JSON.parse(line) as TokenEntry;
      } catch (err) {
        throw new PipelineError('DATA_CORRUPT', `${file}:${n}: not JSON (${(err as Error).message})`, { cause: err });
      }
      if (!Number.isInteger(e.class_id) || !Array.isArray(e.tokens) || e.tokens.length !== m.seq_len) {
        throw new PipelineError('DATA_CORRUPT', `${file}:${n}: expected {"class_id": int, "tokens": [${m.seq_len} ints]}`);
      }
      yield e;
    }
    if (n !== m.shard_counts[k]) throw new PipelineError('DATA_CORRUPT', `${file}: ${n} lines, the manifest says ${m.shard_counts[k]}`);
  }
}

/**
 * Merges part directories (any order) into `out`: checks they describe the same dataset and
 * together cover every shard exactly once, copies the shards, writes one manifest without `part`.
 */
export async function mergeTokenParts(dirs: readonly string[], out: string): Promise<TokenManifest> {
  if (dirs.length === 0) throw new PipelineError('INPUT_MISSING', 'merging pretokenized parts: no parts given');
  const parts = await Promise.all(dirs.map(async (d) => ({ dir: d, m: await readTokenManifest(d) })));
  const first = (parts[0] as (typeof parts)[number]).m;
  const same = (m: TokenManifest) =>
    m.seq_len === first.seq_len &&
    m.codebook_size === first.codebook_size &&
    m.mode === first.mode &&
    m.image_size === first.image_size &&
    m.images_per_shard === first.images_per_shard &&
    m.total_images === first.total_images &&
    m.weights === first.weights &&
    JSON.stringify(m.classes) === JSON.stringify(first.classes);
  const byShard = new Map<string, { dir: string; count: number }>();
  for (const { dir, m } of parts) {
    if (!same(m))
      throw new PipelineError(
        'CONFIG_INVALID',
        `${dir}: its manifest describes another dataset or tokenizer than ${parts[0]?.dir} (seq_len, codebook, mode, image size, shard size, classes and weights must agree)`,
      );
    m.shards.forEach((s, i) => {
      if (byShard.has(s)) throw new PipelineError('CONFIG_INVALID', `${s} is in two parts (${byShard.get(s)?.dir} and ${dir})`);
      byShard.set(s, { dir, count: m.shard_counts[i] as number });
    });
  }
  const totalShards = Math.ceil(first.total_images / first.images_per_shard);
  const missing = Array.from({ length: totalShards }, (_, i) => shardName(i)).filter((s) => !byShard.has(s));
  if (missing.length > 0 || byShard.size !== totalShards) {
    throw new PipelineError(
      'INPUT_MISSING',
      `the parts cover ${byShard.size} of ${totalShards} shards; missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}: wire every part of the pretokenization into the merge`,
    );
  }
  await mkdir(out, { recursive: true });
  const shards = Array.from({ length: totalShards }, (_, i) => shardName(i));
  const counts: number[] = [];
  for (const s of shards) {
    const src = byShard.get(s) as { dir: string; count: number };
    await copyFile(path.join(src.dir, s), path.join(out, s));
    counts.push(src.count);
  }
  const { part: _part, ...rest } = first;
  const merged: TokenManifest = { ...rest, count: counts.reduce((a, b) => a + b, 0), shards, shard_counts: counts };
  await writeFile(path.join(out, TOKEN_MANIFEST), `${JSON.stringify(merged, null, 2)}\n`);
  return merged;
}
