/**
 * The `posttrain.pairs` stage kind (dossier §7, the intended behaviour): for each real image x (ADM
 * center crop at the tokenizer's image_size, [-1, 1]) with ImageFolder class y,
 *   1. tf = the main-train tokenizer's ids of x (encodeCodes);
 *   2. keep = U < σ per position, from the image's own stream (keepMask);
 *   3. RAR sampling conditioned on y with CFG and temperature, where every kept position is overwritten
 *      by tf and later steps see the mixed prefix;
 *   4. decode the mixed ids with the same tokenizer → uint8 PNG at the real image's relative path.
 * The pair is implicit: pairs/<class>/<stem>.png ↔ dataset/<class>/<stem>.<ext>.
 *
 * Image i of the ImageFolder (its sorted index) draws its mask and its samples only from streams keyed
 * by (stage seed, i), so a PNG does not depend on the batch size or on which other images are selected.
 * With checkpointEvery = n the mixed ids of the finished batches are saved after every n-th batch; a
 * retry decodes them into the same PNGs and samples only the remaining batches.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { sha256File } from '../artifacts/hashing';
import { initBackend } from '../compute/backend';
import { PipelineError } from '../core/errors';
import { centerCropArr, writeChwSigned } from '../data/adm-crop';
import { mapLimit } from '../core/map-limit';
import { decodeSample, openImageFolder, type ImageFolderSample } from '../data/image-folder';
import { encodeNpy, readNpyFile } from '../data/npy';
import { GENERATOR_WEIGHTS, loadRar } from '../models/rar-artifact';
import { keepMask, sampleRar } from '../models/rar-sampling';
import type { RobustokTokenizer } from '../models/robustok-tokenizer';
import { EMA_WEIGHTS, loadTokenizerArtifact, MODEL_WEIGHTS } from '../models/tokenizer-artifact';
import { decodeIdsToUint8 } from '../models/tokenizer-images';
import { Rng } from '../models/training/rng';
import { checkPair, shardRange, stepHeartbeat } from './sampling-support';
import { PAIRS_MANIFEST, posttrainPairsDescriptor, type PosttrainPairsConfig } from './posttrain-pairs-config';

export { PAIRS_MANIFEST };
import type { StageContext, StageImpl, StageResult } from './stage';

const PROGRESS_FILE = 'progress.json';

interface Selected {
  /** Index in the ImageFolder's sorted sample list: keys the image's random streams. */
  readonly index: number;
  readonly sample: ImageFolderSample;
  /** Output path relative to the pairs folder (posix separators, `.png`). */
  readonly rel: string;
}

interface Progress {
  batches: number;
  kept: number;
  positions: number;
  skipped: number;
}

function splitRoot(root: string, split: string): string {
  const sub = path.join(root, split);
  return existsSync(sub) ? sub : root;
}

/** Subset selection of upstream's --num_samples: the first n of a seeded permutation, then in folder order. */
export function selectImages(total: number, numSamples: number | undefined, subsetSeed: number): number[] {
  if (numSamples === undefined || numSamples >= total) return Array.from({ length: total }, (_, i) => i);
  return Array.from(Rng.fromSeed(subsetSeed).permutation(total).subarray(0, numSamples)).sort((a, b) => a - b);
}

async function run(ctx: StageContext<PosttrainPairsConfig>): Promise<StageResult> {
  const c = ctx.config;
  const { generator: genDir, tokenizer: tokDir, dataset: dataDir } = ctx.inputs;
  if (genDir === undefined || tokDir === undefined || dataDir === undefined) {
    throw new PipelineError(
      'INPUT_MISSING',
      'posttrain.pairs needs inputs `generator` (a generator.train artifact), `tokenizer` (the main-train tokenizer artifact) and `dataset` (an ImageFolder)',
    );
  }
  await initBackend({ log: (l) => ctx.log.info(l) });
  const folder = await openImageFolder(splitRoot(dataDir, c.split));
  const gen = await loadRar(genDir);
  let tok: RobustokTokenizer | undefined;
  try {
    const loaded = await loadTokenizerArtifact(tokDir, { weights: c.tokenizerWeights });
    tok = loaded.model;
    checkPair(gen, tok);
    const C = folder.classNames.length;
    if (C > gen.config.numClasses)
      throw new PipelineError(
        'CHECKPOINT_MISMATCH',
        `the dataset has ${C} classes but the generator only ${gen.config.numClasses}: class ids are the ImageFolder indices`,
      );
    const size = loaded.config.image_size;
    const L = gen.config.imageSeqLen;

    const seen = new Map<string, string>();
    const selected: Selected[] = selectImages(folder.samples.length, c.numSamples, c.subsetSeed).map((index) => {
      const sample = folder.samples[index] as ImageFolderSample;
      const rel =
        path
          .relative(folder.root, sample.path)
          .split(path.sep)
          .join('/')
          .replace(/\.[^./]*$/, '') + '.png';
      const other = seen.get(rel);
      if (other !== undefined)
        throw new PipelineError(
          'DATA_CORRUPT',
          `${other} and ${sample.path} would both be paired as ${rel}: rename one (pairs are matched by path without extension)`,
        );
      seen.set(rel, sample.path);
      return { index, sample, rel };
    });
    const [lo, hi] = shardRange(selected.length, c.shard.index, c.shard.count);
    const mine = selected.slice(lo, hi);
    const shardNote = c.shard.count > 1 ? `, shard ${c.shard.index}/${c.shard.count}: selected images ${lo}..${hi - 1}` : '';
    ctx.log.info(
      `posttrain.pairs: ${selected.length} of ${folder.samples.length} images (${C} classes)${shardNote}, σ ${c.sigma}, g ${c.guidanceScale}, p ${c.guidanceScalePow}, T ${c.randomizeTemperature}, seed ${ctx.seed}`,
    );

    const out = path.join(ctx.workdir, 'pairs');
    await mkdir(out, { recursive: true });
    const batches: Selected[][] = [];
    for (let i = 0; i < mine.length; i += c.batchSize) batches.push(mine.slice(i, i + c.batchSize));
    // Checkpoints hold the mixed ids of the finished batches and which images they belong to (1 KB per
    // image at 256 tokens), not the PNGs: a retry decodes them again instead of re-uploading every PNG.
    const idsDir = path.join(ctx.workdir, 'ids');
    await mkdir(idsDir, { recursive: true });
    let p: Progress = { batches: 0, kept: 0, positions: 0, skipped: 0 };
    const resume = await ctx.checkpoints.latest();
    if (resume) {
      p = JSON.parse(await readFile(path.join(resume.dir, PROGRESS_FILE), 'utf8')) as Progress;
      await cp(resume.dir, idsDir, { recursive: true });
      ctx.log.info(`resuming after ${p.batches} finished batch(es)`);
    }
    const byIndex = new Map(mine.map((s) => [s.index, s]));
    const writePairs = async (items: readonly Selected[], ids: Int32Array) => {
      const img = await decodeIdsToUint8(tok as RobustokTokenizer, ids, items.length);
      const plane = size * size * 3;
      await Promise.all(
        items.map(async (s, i) => {
          const file = path.join(out, ...s.rel.split('/'));
          await mkdir(path.dirname(file), { recursive: true });
          const png = await sharp(img.pixels.subarray(i * plane, (i + 1) * plane), { raw: { width: size, height: size, channels: 3 } })
            .png({ compressionLevel: 6, adaptiveFiltering: false })
            .toBuffer();
          await writeFile(file, png);
        }),
      );
    };
    for (let b = 0; b < p.batches; b++) {
      const rows = JSON.parse(await readFile(path.join(idsDir, `items-${b}.json`), 'utf8')) as number[];
      const items = rows.map((i) => byIndex.get(i) as Selected);
      if (items.some((x) => x === undefined))
        throw new PipelineError('CHECKPOINT_MISMATCH', `checkpoint batch ${b} names images outside this stage's selection`);
      if (items.length > 0) await writePairs(items, (await readNpyFile(path.join(idsDir, `ids-${b}.npy`))).data as Int32Array);
      ctx.progress({ step: b + 1, total: batches.length, message: 'decoding restored ids' });
    }

    const prepare = async (items: readonly Selected[]) => {
      const crops = await mapLimit(items, 8, async (s) => {
        const img = await decodeSample(s.sample.path, { skipCorrupt: c.skipCorrupt, log: (m) => ctx.log.warn(m) });
        return img === undefined ? undefined : { s, crop: await centerCropArr(img, size, { resampler: c.resampler }) };
      });
      const kept = crops.filter((x) => x !== undefined);
      const plane = 3 * size * size;
      const images = new Float32Array(kept.length * plane);
      kept.forEach((k, i) => writeChwSigned(k.crop, images, i * plane)); // HWC uint8 -> CHW [-1, 1] at slot i of [n, 3, S, S]
      return { items: kept.map((k) => k.s), images, skipped: items.length - kept.length };
    };
    const load = (b: number) => {
      const items = batches[b];
      if (items === undefined) return undefined;
      const pr = prepare(items);
      pr.catch(() => undefined); // awaited below; a prefetch abandoned by an error elsewhere must not go unhandled
      return pr;
    };

    const started = performance.now();
    let made = 0;
    let next = load(p.batches);
    for (let b = p.batches; b < batches.length; b++) {
      ctx.signal.throwIfAborted();
      const batch = await (next as NonNullable<ReturnType<typeof load>>);
      next = load(b + 1); // decode and crop the next images while this batch samples
      const n = batch.items.length;
      p.skipped += batch.skipped;
      if (n > 0) {
        const codes = tf.tidy(() => (tok as RobustokTokenizer).encodeCodes(tf.tensor4d(batch.images, [n, 3, size, size])));
        const tokens = (await codes.data()) as Int32Array; // [n, L] raster
        codes.dispose();
        const keep = new Uint8Array(n * L);
        batch.items.forEach((s, i) => keep.set(keepMask(ctx.seed, s.index, L, c.sigma), i * L));
        const ids = await sampleRar(
          gen,
          batch.items.map((s) => s.sample.label),
          {
            guidanceScale: c.guidanceScale,
            guidanceScalePow: c.guidanceScalePow,
            randomizeTemperature: c.randomizeTemperature,
            seed: ctx.seed,
            sampleIndices: batch.items.map((s) => s.index),
            teacherForcing: { tokens, keep },
            onStep: stepHeartbeat(ctx, `batch ${b + 1}/${batches.length}`),
          },
        );
        await writePairs(batch.items, ids);
        await writeFile(path.join(idsDir, `ids-${b}.npy`), encodeNpy(ids, [n, L]));
        p.kept += keep.reduce((a, v) => a + v, 0);
        p.positions += keep.length;
        made += n;
      }
      await writeFile(path.join(idsDir, `items-${b}.json`), JSON.stringify(batch.items.map((x) => x.index)));
      p.batches = b + 1;
      const seconds = (performance.now() - started) / 1000;
      ctx.progress({ step: b + 1, total: batches.length, message: `${(made / seconds).toFixed(3)} pairs/s` });
      if (ctx.checkpointEvery > 0 && p.batches % ctx.checkpointEvery === 0 && p.batches < batches.length) {
        await writeFile(path.join(idsDir, PROGRESS_FILE), JSON.stringify(p));
        await ctx.checkpoints.save(idsDir, p.batches);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const count = mine.length - p.skipped;
    const tokFile = path.join(tokDir, loaded.weights === 'ema' ? EMA_WEIGHTS : MODEL_WEIGHTS);
    const manifest = {
      format: 'robustok.posttrain-pairs',
      version: 1,
      count,
      skipped: p.skipped,
      sigma: c.sigma,
      kept_fraction: p.positions ? p.kept / p.positions : 0,
      kept_positions: p.kept,
      positions: p.positions,
      selected: selected.length,
      ...(c.shard.count > 1 ? { shard: { index: c.shard.index, count: c.shard.count, first: lo, end: hi } } : {}),
      split: c.split,
      dataset_images: folder.samples.length,
      num_samples: c.numSamples ?? null,
      subset_seed: c.subsetSeed,
      seed: ctx.seed,
      image_size: size,
      classes: folder.classNames,
      sampling: { guidanceScale: c.guidanceScale, guidanceScalePow: c.guidanceScalePow, randomizeTemperature: c.randomizeTemperature },
      generator: { config: gen.config, weights_sha256: await sha256File(path.join(genDir, GENERATOR_WEIGHTS)) },
      tokenizer: { config: loaded.config, weights: loaded.weights, weights_sha256: await sha256File(tokFile) },
    };
    await writeFile(path.join(out, PAIRS_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    if (p.skipped > 0) ctx.log.warn(`${p.skipped} corrupt image(s) skipped`);
    return {
      outputs: { pairs: out },
      metrics: { pairs: count, skipped: p.skipped, kept_fraction: manifest.kept_fraction, pairs_per_second: made / Math.max(seconds, 1e-9) },
    };
  } finally {
    gen.dispose();
    tok?.dispose();
  }
}

export const posttrainPairsStage: StageImpl<PosttrainPairsConfig> = { descriptor: posttrainPairsDescriptor, run };
