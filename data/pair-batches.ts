/**
 * Batches of (generated image, real image) pairs for decoder post-training (dossier §8): the generated
 * PNGs of `posttrain.pairs` (ImageFolder layout `<class>/<stem>.png`) are the input, used as they are
 * (no crop, no flip, as upstream's PairedImageDataset); the real image with the same relative path and
 * stem (any image extension) in the pair set is the target, ADM center-cropped to the same size.
 *
 * Order and determinism follow ImageBatchLoader: the epoch's permutation is a sub-stream of the given
 * Rng keyed by the epoch, so batch s of epoch e is a pure function of the files, the seed, e and s.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PipelineError } from '../core/errors';
import type { Rng } from '../models/training/rng';
import { centerCropArr, writeChwSigned } from './adm-crop';
import { subStream } from './image-batches';
import { decodeSample, openImageFolder } from './image-folder';

export interface PairBatch {
  readonly input: Float32Array;
  readonly target: Float32Array;
  readonly shape: [number, 3, number, number];
  readonly step: number;
}

export interface Pair {
  readonly generated: string;
  readonly real: string;
}

const ORDER = 0x70616972; // 'pair'

/** Pairs every generated image with the real image of the same class folder and stem. */
export async function listPairs(generatedRoot: string, realRoot: string): Promise<Pair[]> {
  const gen = await openImageFolder(generatedRoot);
  const realByKey = new Map<string, string>();
  const real = await openImageFolder(realRoot);
  for (const s of real.samples) realByKey.set(pairKey(realRoot, s.path), s.path);
  const pairs: Pair[] = [];
  const missing: string[] = [];
  for (const s of gen.samples) {
    const r = realByKey.get(pairKey(generatedRoot, s.path));
    if (r === undefined) missing.push(path.relative(generatedRoot, s.path));
    else pairs.push({ generated: s.path, real: r });
  }
  if (missing.length > 0) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${missing.length} generated image(s) have no real image with the same class folder and stem under ${realRoot} (e.g. ${missing.slice(0, 3).join(', ')}): pass the dataset (split) the pairs were generated from`,
    );
  }
  return pairs;
}

/** `<class>/<stem>` of an image below `root` (the extension differs: PNG vs the dataset's JPEG). */
function pairKey(root: string, file: string): string {
  const rel = path.relative(root, file);
  return rel.slice(0, rel.length - path.extname(rel).length);
}

export class PairBatchLoader {
  constructor(
    readonly pairs: readonly Pair[],
    readonly o: { imageSize: number; batchSize: number; skipCorrupt?: boolean; log?: (m: string) => void },
  ) {}

  static async open(generatedRoot: string, realRoot: string, o: PairBatchLoader['o']): Promise<PairBatchLoader> {
    // readdir first: a missing pairs folder deserves its own message, not "no images"
    await readdir(generatedRoot).catch((e: unknown) => {
      throw new PipelineError('INPUT_MISSING', `generated pairs folder ${generatedRoot} is not readable (${String(e)}): connect the output of posttrain.pairs`);
    });
    return new PairBatchLoader(await listPairs(generatedRoot, realRoot), o);
  }

  stepsPerEpoch(): number {
    return Math.floor(this.pairs.length / this.o.batchSize);
  }

  async *epoch(epoch: number, rng: Rng, startStep = 0): AsyncGenerator<PairBatch> {
    const order = subStream(rng, ORDER, epoch).permutation(this.pairs.length);
    const steps = this.stepsPerEpoch();
    let next = startStep < steps ? this.batch(order, startStep) : undefined;
    next?.catch(() => undefined);
    for (let s = startStep; s < steps; s++) {
      const cur = await (next as Promise<PairBatch>);
      next = s + 1 < steps ? this.batch(order, s + 1) : undefined;
      next?.catch(() => undefined);
      yield cur;
    }
  }

  /** Every pair once, in listing order, the last batch possibly smaller (evaluation). */
  async *inOrder(): AsyncGenerator<PairBatch> {
    const order = Int32Array.from({ length: this.pairs.length }, (_, i) => i);
    const steps = Math.ceil(this.pairs.length / this.o.batchSize);
    for (let s = 0; s < steps; s++) yield await this.batch(order, s);
  }

  private async batch(order: Int32Array, step: number): Promise<PairBatch> {
    const { batchSize, imageSize: size, skipCorrupt, log } = this.o;
    const picks = Array.from(order.subarray(step * batchSize, Math.min((step + 1) * batchSize, order.length)));
    const loaded = await Promise.all(
      picks.map(async (i) => {
        const pair = this.pairs[i] as Pair;
        const [g, r] = await Promise.all([decodeSample(pair.generated, { skipCorrupt, log }), decodeSample(pair.real, { skipCorrupt, log })]);
        if (g === undefined || r === undefined) return undefined;
        if (g.width !== size || g.height !== size) {
          throw new PipelineError(
            'DATA_CORRUPT',
            `${pair.generated} is ${g.width}×${g.height}, the tokenizer takes ${size}×${size}: generate the pairs with the same tokenizer`,
          );
        }
        return { g, r: await centerCropArr(r, size) };
      }),
    );
    const kept = loaded.filter((x) => x !== undefined);
    const plane = 3 * size * size;
    const input = new Float32Array(kept.length * plane);
    const target = new Float32Array(kept.length * plane);
    kept.forEach(({ g, r }, i) => {
      writeChwSigned(g, input, i * plane); // HWC uint8 -> CHW [-1, 1] at slot i of [B, 3, H, W]
      writeChwSigned(r, target, i * plane);
    });
    return { input, target, shape: [kept.length, 3, size, size], step };
  }
}
