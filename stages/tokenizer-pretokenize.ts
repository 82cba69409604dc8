/**
 * The `tokenizer.pretokenize` stage kind (algorithm dossier §4, intended behaviour): encodes every
 * image of an ImageFolder split into integer code ids with the tokenizer's EMA weights (by default),
 * written as deterministic jsonl shards + manifest (data/token-shards.ts). Upstream stored the
 * continuous pre-quantisation latents here by mistake; the ids are what the generator consumes.
 *
 * Views per image: 'flip' = ADM center crop and its mirror; 'ten-crop' = ADM center crop to
 * ⌊1.1·size⌋, then torchvision TenCrop. The crop size is the tokenizer's image_size.
 *
 * Long runs: with checkpointEvery = n > 0, every n finished shards are saved as a checkpoint, and a
 * retried attempt copies the finished shards back and continues with the next one.
 * `tokenizer.pretokenize-merge` joins the outputs of parts (`part: {index, count}`).
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../compute/backend';
import { withDeferredExecution } from '../compute/deferred-execution';
import { PipelineError } from '../core/errors';
import { centerCropArr, flipHorizontal, tenCrop, writeChwSigned } from '../data/adm-crop';
import { mapLimit } from '../core/map-limit';
import { decodeSample, openImageFolder, type ImageFolderSample } from '../data/image-folder';
import type { RgbImage } from '../data/images';
import { entryLine, mergeTokenParts, partShardRange, shardName, TOKEN_FORMAT, TOKEN_MANIFEST, type TokenManifest } from '../data/token-shards';
import { loadTokenizerArtifact } from '../models/tokenizer-artifact';
import {
  tokenizerPretokenizeDescriptor,
  tokenizerPretokenizeMergeDescriptor,
  type TokenizerPretokenizeConfig,
  type TokenizerPretokenizeMergeConfig,
} from './tokenizer-pretokenize-config';
import type { StageContext, StageImpl, StageResult } from './stage';

const PROGRESS_FILE = 'progress.json';

/** The dataset input may be an ImageFolder root or a folder holding `<split>/` ImageFolders. */
function splitRoot(root: string, split: string): string {
  const sub = path.join(root, split);
  return existsSync(sub) ? sub : root;
}

interface EncodedBatch {
  /** [n, 3, S, S] in [-1, 1], the views of `labels.length / perImage` images. */
  readonly images: Float32Array;
  readonly labels: number[];
  readonly skipped: number;
}

async function viewsOf(img: RgbImage, size: number, c: TokenizerPretokenizeConfig): Promise<RgbImage[]> {
  if (c.mode === 'ten-crop') return tenCrop(img, size, { resampler: c.resampler });
  const crop = await centerCropArr(img, size, { resampler: c.resampler });
  return [crop, flipHorizontal(crop)];
}

async function prepare(samples: readonly ImageFolderSample[], size: number, c: TokenizerPretokenizeConfig, warn: (m: string) => void): Promise<EncodedBatch> {
  const views = await mapLimit(samples, 8, async (s) => {
    const img = await decodeSample(s.path, { skipCorrupt: c.skipCorrupt, log: warn });
    return img === undefined ? undefined : { label: s.label, views: await viewsOf(img, size, c) };
  });
  const kept = views.filter((v) => v !== undefined);
  const plane = 3 * size * size;
  const n = kept.reduce((a, v) => a + v.views.length, 0);
  const images = new Float32Array(n * plane);
  const labels: number[] = [];
  for (const v of kept) {
    for (const view of v.views) {
      writeChwSigned(view, images, labels.length * plane); // HWC uint8 -> CHW [-1, 1] at slot i of [n, 3, S, S]
      labels.push(v.label);
    }
  }
  return { images, labels, skipped: samples.length - kept.length };
}

async function run(ctx: StageContext<TokenizerPretokenizeConfig>): Promise<StageResult> {
  const c = ctx.config;
  const tokDir = ctx.inputs.tokenizer;
  const dataDir = ctx.inputs.dataset;
  if (tokDir === undefined || dataDir === undefined)
    throw new PipelineError('INPUT_MISSING', 'tokenizer.pretokenize needs inputs `tokenizer` (a tokenizer.train artifact) and `dataset` (an ImageFolder)');
  await initBackend({ log: (l) => ctx.log.info(l) });
  const folder = await openImageFolder(splitRoot(dataDir, c.split));
  const { model, config: mc, weights } = await loadTokenizerArtifact(tokDir, { weights: c.weights });
  try {
    const size = mc.image_size;
    const perImage = c.mode === 'ten-crop' ? 10 : 2;
    const imagesPerCall = Math.max(1, Math.floor(c.batchSize / perImage));
    const total = folder.samples.length;
    const totalShards = Math.ceil(total / c.imagesPerShard);
    const [first, end] = c.part ? partShardRange(totalShards, c.part.index, c.part.count) : [0, totalShards];
    const out = path.join(ctx.workdir, 'tokens');
    await mkdir(out, { recursive: true });
    ctx.log.info(
      `tokenizer.pretokenize: ${total} images (${folder.classNames.length} classes), ${c.mode}, ${weights} weights, shards ${first}..${end - 1} of ${totalShards}`,
    );

    const counts: number[] = [];
    let skipped = 0;
    const resume = await ctx.checkpoints.latest();
    if (resume) {
      const done = JSON.parse(await readFile(path.join(resume.dir, PROGRESS_FILE), 'utf8')) as { first: number; counts: number[]; skipped: number };
      if (done.first !== first) throw new PipelineError('CHECKPOINT_MISMATCH', `checkpoint starts at shard ${done.first}, this part at ${first}`);
      for (const [i, n] of done.counts.entries()) {
        await copyFile(path.join(resume.dir, shardName(first + i)), path.join(out, shardName(first + i)));
        counts.push(n);
      }
      skipped = done.skipped;
      ctx.log.info(`resuming after ${counts.length} finished shard(s)`);
    }

    const startImage = (first + counts.length) * c.imagesPerShard;
    const endImage = Math.min(end * c.imagesPerShard, total);
    const started = performance.now();
    let encodedImages = 0;
    for (let k = first + counts.length; k < end; k++) {
      const lo = k * c.imagesPerShard;
      const hi = Math.min(lo + c.imagesPerShard, total);
      const file = path.join(out, shardName(k));
      const stream = createWriteStream(file);
      let lines = 0;
      const batches: [number, number][] = [];
      for (let i = lo; i < hi; i += imagesPerCall) batches.push([i, Math.min(i + imagesPerCall, hi)]);
      const load = (b: [number, number] | undefined) => {
        if (b === undefined) return undefined;
        const p = prepare(folder.samples.slice(b[0], b[1]), size, c, (m) => ctx.log.warn(m));
        p.catch(() => undefined); // awaited below; a prefetch abandoned by an error elsewhere must not go unhandled
        return p;
      };
      let next = load(batches[0]);
      for (let b = 0; b < batches.length; b++) {
        ctx.signal.throwIfAborted();
        const batch = await (next as Promise<EncodedBatch>);
        next = load(batches[b + 1]); // decode the next images while this batch encodes
        skipped += batch.skipped;
        const n = batch.labels.length;
        if (n > 0) {
          // one TensorFlow graph call per batch once a batch shape has been seen (compute/deferred-execution.ts;
          // the same kernels, bit-identical codes); eagerly elsewhere or with ROBUSTOK_NATIVE_EXEC=eager
          const codes = withDeferredExecution(() => {
            const ids = tf.tidy(() => model.encodeCodes(tf.tensor4d(batch.images, [n, 3, size, size])));
            const values = ids.dataSync() as Int32Array; // [n, L] raster order
            ids.dispose();
            return values;
          });
          const L = codes.length / n;
          let text = '';
          for (let i = 0; i < n; i++) text += entryLine(batch.labels[i] as number, codes.subarray(i * L, (i + 1) * L));
          if (!stream.write(text)) await once(stream, 'drain');
          lines += n;
        }
        const [from, to] = batches[b] as [number, number];
        encodedImages += to - from;
        ctx.progress({ step: to - startImage, total: endImage - startImage, message: `shard ${k}` });
      }
      stream.end();
      await once(stream, 'finish');
      counts.push(lines);
      const finished = counts.length;
      if (ctx.checkpointEvery > 0 && finished % ctx.checkpointEvery === 0 && k + 1 < end) {
        await writeFile(path.join(out, PROGRESS_FILE), JSON.stringify({ first, counts, skipped }));
        await ctx.checkpoints.save(out, finished);
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const manifest: TokenManifest = {
      format: TOKEN_FORMAT,
      version: 1,
      count: counts.reduce((a, b) => a + b, 0),
      seq_len: model.numTokens,
      codebook_size: mc.codebook_size,
      num_classes: folder.classNames.length,
      classes: folder.classNames,
      mode: c.mode,
      entries_per_image: perImage,
      image_size: size,
      images_per_shard: c.imagesPerShard,
      total_images: total,
      shards: counts.map((_, i) => shardName(first + i)),
      shard_counts: counts,
      weights,
      ...(c.part ? { part: { index: c.part.index, count: c.part.count, total_shards: totalShards } } : {}),
    };
    // The checkpoint bookkeeping must not become part of the output (its digest would depend on resumes).
    await rm(path.join(out, PROGRESS_FILE), { force: true });
    await writeFile(path.join(out, TOKEN_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    if (skipped > 0) ctx.log.warn(`${skipped} corrupt image(s) skipped`);
    return {
      outputs: { tokens: out },
      metrics: {
        entries: manifest.count,
        images: endImage - first * c.imagesPerShard - skipped,
        skipped,
        seq_len: manifest.seq_len,
        images_per_second: encodedImages / Math.max(seconds, 1e-9),
      },
    };
  } finally {
    model.dispose();
  }
}

export const tokenizerPretokenizeStage: StageImpl<TokenizerPretokenizeConfig> = { descriptor: tokenizerPretokenizeDescriptor, run };

async function runMerge(ctx: StageContext<TokenizerPretokenizeMergeConfig>): Promise<StageResult> {
  const names = Object.keys(ctx.inputs).sort();
  const out = path.join(ctx.workdir, 'tokens');
  const m = await mergeTokenParts(
    names.map((n) => ctx.inputs[n] as string),
    out,
  );
  ctx.log.info(`merged ${names.length} part(s): ${m.count} entries in ${m.shards.length} shards`);
  return { outputs: { tokens: out }, metrics: { entries: m.count, shards: m.shards.length } };
}

export const tokenizerPretokenizeMergeStage: StageImpl<TokenizerPretokenizeMergeConfig> = { descriptor: tokenizerPretokenizeMergeDescriptor, run: runMerge };
