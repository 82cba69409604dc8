/**
 * Reader of a pretokenized dataset (the pretokenize stage's output, the input of generator training):
 *
 *   <dir>/manifest.json   {count, seq_len, codebook_size, num_classes, shards: ["shard-00000.jsonl", …]}
 *   <dir>/shard-*.jsonl   one sample per line: {"class_id": int, "tokens": [int × seq_len]} (raster ids)
 *
 * Everything is loaded into two typed arrays (ids as Uint16 when the codebook allows: ImageNet at 256
 * tokens is ~650 MB that way), validated line by line so a bad line is reported with its file and line.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { PipelineError, errorMessage } from '../core/errors';

export interface TokenDataset {
  readonly count: number;
  readonly seqLen: number;
  readonly codebookSize: number;
  readonly numClasses: number;
  /** [count · seqLen] raster ids. */
  readonly tokens: Uint16Array | Int32Array;
  /** [count] labels 0..numClasses−1. */
  readonly classes: Int32Array;
}

interface Manifest {
  count: number;
  seq_len: number;
  codebook_size: number;
  num_classes: number;
  shards: string[];
}

const corrupt = (m: string) => new PipelineError('DATA_CORRUPT', m);

function parseManifest(raw: unknown, where: string): Manifest {
  const m = raw as Record<string, unknown>;
  const int = (k: string, min: number) => {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw corrupt(`${where}: "${k}" must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  if (typeof m !== 'object' || m === null) throw corrupt(`${where}: not a JSON object`);
  const shards = m.shards;
  if (!Array.isArray(shards) || shards.length === 0) throw corrupt(`${where}: "shards" must be a non-empty list of shard file names`);
  const names = shards.map((s: unknown) => {
    // a shard entry is a file name, or an object naming one
    const name =
      typeof s === 'string'
        ? s
        : typeof s === 'object' && s !== null
          ? ((s as Record<string, unknown>).file ?? (s as Record<string, unknown>).path ?? (s as Record<string, unknown>).name)
          : undefined;
    if (typeof name !== 'string' || name.includes('..') || path.isAbsolute(name))
      throw corrupt(`${where}: shard entry ${JSON.stringify(s)} is not a relative file name`);
    return name;
  });
  return { count: int('count', 1), seq_len: int('seq_len', 1), codebook_size: int('codebook_size', 1), num_classes: int('num_classes', 1), shards: names };
}

export async function readTokenDataset(dir: string): Promise<TokenDataset> {
  const manifestPath = path.join(dir, 'manifest.json');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (e) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${manifestPath}: cannot read the pretokenized dataset manifest (${errorMessage(e)}); the tokens input must be a pretokenize output directory`,
      { cause: e },
    );
  }
  const m = parseManifest(raw, manifestPath);
  const L = m.seq_len;
  const tokens = m.codebook_size <= 65536 ? new Uint16Array(m.count * L) : new Int32Array(m.count * L);
  const classes = new Int32Array(m.count);
  let n = 0;
  for (const shard of m.shards) {
    const file = path.join(dir, shard);
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
    let lineNo = 0;
    try {
      for await (const line of lines) {
        lineNo++;
        if (line.trim() === '') continue;
        const where = `${file}:${lineNo}`;
        if (n >= m.count) throw corrupt(`${where}: more samples than the manifest's count ${m.count}`);
        let rec: { class_id?: unknown; tokens?: unknown };
        try {
          rec = JSON.parse(line) as typeof rec;
        } catch (e) {
          throw corrupt(`${where}: not JSON (${errorMessage(e)})`);
        }
        const c = rec.class_id;
        if (typeof c !== 'number' || !Number.isInteger(c) || c < 0 || c >= m.num_classes)
          throw corrupt(`${where}: class_id ${JSON.stringify(c)} is not in 0..${m.num_classes - 1}`);
        const t = rec.tokens;
        if (!Array.isArray(t) || t.length !== L)
          throw corrupt(`${where}: "tokens" must be a list of ${L} ids, got ${Array.isArray(t) ? `${t.length} entries` : typeof t}`);
        for (let j = 0; j < L; j++) {
          const v = t[j] as unknown;
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= m.codebook_size)
            throw corrupt(`${where}: token ${j} = ${JSON.stringify(v)} is not in 0..${m.codebook_size - 1}`);
          tokens[n * L + j] = v;
        }
        classes[n] = c;
        n++;
      }
    } catch (e) {
      if (e instanceof PipelineError) throw e;
      throw new PipelineError('INPUT_MISSING', `${file}: cannot read shard (${errorMessage(e)})`, { cause: e });
    }
  }
  if (n !== m.count) throw corrupt(`${manifestPath}: count is ${m.count} but the shards hold ${n} samples`);
  return { count: m.count, seqLen: L, codebookSize: m.codebook_size, numClasses: m.num_classes, tokens, classes };
}

/** Entropy (nats) of the empirical unigram distribution of the ids: the loss of a model that ignores context. */
export function unigramEntropy(tokens: ArrayLike<number>, codebookSize: number): number {
  const counts = new Float64Array(codebookSize);
  for (let i = 0; i < tokens.length; i++) counts[tokens[i] as number]! += 1;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / tokens.length) * Math.log(c / tokens.length);
  return h;
}
