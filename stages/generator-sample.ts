/**
 * The `generator.sample` stage kind (dossier §6): class-conditional RAR sampling with the KV cache,
 * power-cosine CFG and a constant temperature, decoded by the tokenizer (EMA weights by default) and
 * converted to uint8 with the +128 convention, packed as an ADM .npz (`arr_0` uint8 [n, H, W, 3],
 * `labels` int32 [n]; and, for generator.sample-merge, `indices` int32 [n] — the global sample indices
 * of the rows — and `total` int32 [1] = N).
 *
 * Layout: N = C·perClass samples, global index g has label g mod C (upstream's list(range(C)) * perClass).
 * Sample g draws only from the random stream (stage seed, g), so an image depends on (seed, g) alone:
 * not on the batch size, the shard count or the worker. A shard samples its contiguous slice of g.
 *
 * Batches run in index order and their rows stream straight into the .npz. Long runs: with
 * checkpointEvery = n the sampled ids of the finished batches are saved after every n-th batch; a
 * retried attempt decodes those ids again (same batches, same bytes) and samples only the rest.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '../compute/backend';
import { PipelineError } from '../core/errors';
import { encodeNpy, readNpyFile } from '../data/npy';
import { NpzWriter } from '../data/npz-writer';
import { loadRar } from '../models/rar-artifact';
import { sampleRar } from '../models/rar-sampling';
import type { RobustokTokenizer } from '../models/robustok-tokenizer';
import { loadTokenizerArtifact } from '../models/tokenizer-artifact';
import { decodeIdsToUint8 } from '../models/tokenizer-images';
import { generatorSampleDescriptor, type GeneratorSampleConfig } from './generator-sample-config';
import { checkPair, shardRange, stepHeartbeat } from './sampling-support';
import type { StageContext, StageImpl, StageResult } from './stage';

const PROGRESS_FILE = 'progress.json';

const idsName = (start: number) => `ids-${String(start).padStart(9, '0')}.npy`;

interface Progress {
  lo: number;
  hi: number;
  batchSize: number;
}

async function run(ctx: StageContext<GeneratorSampleConfig>): Promise<StageResult> {
  const c = ctx.config;
  const genDir = ctx.inputs.generator;
  const tokDir = ctx.inputs.tokenizer;
  if (genDir === undefined || tokDir === undefined)
    throw new PipelineError('INPUT_MISSING', 'generator.sample needs inputs `generator` (a generator.train artifact) and `tokenizer` (a tokenizer artifact)');
  await initBackend({ log: (l) => ctx.log.info(l) });
  const gen = await loadRar(genDir);
  let tok: RobustokTokenizer | undefined;
  try {
    const loaded = await loadTokenizerArtifact(tokDir, { weights: c.tokenizerWeights });
    tok = loaded.model;
    checkPair(gen, tok);
    const C = c.numClasses ?? gen.config.numClasses;
    if (C > gen.config.numClasses) throw new PipelineError('CONFIG_INVALID', `numClasses ${C} exceeds the generator's ${gen.config.numClasses} classes`);
    const N = C * c.perClass;
    const [lo, hi] = shardRange(N, c.shard.index, c.shard.count);
    const size = loaded.config.image_size;
    const L = gen.config.imageSeqLen;
    ctx.log.info(
      `generator.sample: samples ${lo}..${hi - 1} of ${N} (${C} classes × ${c.perClass}; shard ${c.shard.index}/${c.shard.count}), ` +
        `g ${c.guidanceScale}, p ${c.guidanceScalePow}, T ${c.randomizeTemperature}, seed ${ctx.seed}, ${loaded.weights} tokenizer weights`,
    );

    // Checkpoints hold the sampled ids of finished batches (1 KB per sample at 256 tokens, against
    // 196 KB of pixels): a retry decodes them again instead of re-uploading a growing pile of images.
    const idsDir = path.join(ctx.workdir, 'ids');
    await mkdir(idsDir, { recursive: true });
    const progress: Progress = { lo, hi, batchSize: c.batchSize };
    const resume = await ctx.checkpoints.latest();
    if (resume) {
      const done = JSON.parse(await readFile(path.join(resume.dir, PROGRESS_FILE), 'utf8')) as Progress;
      if (done.lo !== lo || done.hi !== hi || done.batchSize !== c.batchSize) {
        throw new PipelineError(
          'CHECKPOINT_MISMATCH',
          `checkpoint covers samples ${done.lo}..${done.hi - 1} in batches of ${done.batchSize}; this stage ${lo}..${hi - 1} in batches of ${c.batchSize}`,
        );
      }
      const names = (await readdir(resume.dir)).filter((n) => n.startsWith('ids-'));
      for (const n of names) await copyFile(path.join(resume.dir, n), path.join(idsDir, n));
      ctx.log.info(`resuming after ${names.length} finished batch(es)`);
    }
    await writeFile(path.join(idsDir, PROGRESS_FILE), JSON.stringify(progress));

    const out = path.join(ctx.workdir, 'out');
    const pngDir = path.join(out, 'images');
    await mkdir(c.writePngs ? pngDir : out, { recursive: true });
    const npz = path.join(out, 'samples.npz');
    const writer = await NpzWriter.create(npz);
    const wallStart = performance.now();
    let sampled = 0;
    let sampling = 0;
    try {
      await writer.begin('arr_0', 'u1', [hi - lo, size, size, 3]);
      const batches = Math.ceil((hi - lo) / c.batchSize);
      for (let b = 0; b < batches; b++) {
        ctx.signal.throwIfAborted();
        const s = lo + b * c.batchSize;
        const e = Math.min(s + c.batchSize, hi);
        const file = path.join(idsDir, idsName(s));
        let ids: Int32Array;
        const restored = existsSync(file);
        if (restored) {
          ids = (await readNpyFile(file)).data as Int32Array;
          if (ids.length !== (e - s) * L) throw new PipelineError('CHECKPOINT_MISMATCH', `${idsName(s)} holds ${ids.length} ids, expected ${e - s}×${L}`);
        } else {
          const t0 = performance.now();
          const indices = Array.from({ length: e - s }, (_, i) => s + i);
          ids = await sampleRar(
            gen,
            indices.map((g) => g % C),
            {
              guidanceScale: c.guidanceScale,
              guidanceScalePow: c.guidanceScalePow,
              randomizeTemperature: c.randomizeTemperature,
              seed: ctx.seed,
              sampleIndices: indices,
              // sample g always runs at row g mod batchSize of a full-size model batch: the native backend's
              // logits move at 1e-6 with batch size and row, enough to flip a draw between shard layouts
              modelBatch: c.batchSize,
              onStep: stepHeartbeat(ctx, `samples ${s}..${e - 1}`),
            },
          );
          await writeFile(file, encodeNpy(ids, [e - s, L]));
          sampling += performance.now() - t0;
          sampled += e - s;
        }
        const img = await decodeIdsToUint8(tok, ids, e - s);
        await writer.write(img.pixels);
        if (c.writePngs) await writePngs(pngDir, img.pixels, s, size);
        ctx.progress({
          step: e - lo,
          total: hi - lo,
          message: sampled ? `${((1000 * sampled) / sampling).toFixed(3)} images/s (sampling)` : 'decoding restored ids',
        });
        if (!restored && ctx.checkpointEvery > 0 && (b + 1) % ctx.checkpointEvery === 0 && b + 1 < batches) await ctx.checkpoints.save(idsDir, b + 1);
      }
      await writer.end();
      await writer.add(
        'labels',
        'i4',
        Int32Array.from({ length: hi - lo }, (_, i) => (lo + i) % C),
        [hi - lo],
      );
      await writer.add(
        'indices',
        'i4',
        Int32Array.from({ length: hi - lo }, (_, i) => lo + i),
        [hi - lo],
      );
      await writer.add('total', 'i4', Int32Array.of(N), [1]);
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    const seconds = sampling / 1000;
    const ips = sampled / Math.max(seconds, 1e-9);
    return {
      outputs: c.writePngs ? { samples: npz, images: pngDir } : { samples: npz },
      metrics: {
        images: hi - lo,
        first_index: lo,
        sampled,
        images_per_second: ips,
        tokens_per_second: ips * L,
        num_classes: C,
        wall_seconds: (performance.now() - wallStart) / 1000,
      }, // rates: sampling alone; wall_seconds: everything
    };
  } finally {
    gen.dispose();
    tok?.dispose();
  }
}

async function writePngs(dir: string, pixels: Uint8Array, first: number, size: number): Promise<void> {
  const plane = size * size * 3;
  const n = pixels.length / plane;
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const png = await sharp(pixels.subarray(i * plane, (i + 1) * plane), { raw: { width: size, height: size, channels: 3 } })
        .png({ compressionLevel: 6, adaptiveFiltering: false })
        .toBuffer();
      await writeFile(path.join(dir, `${String(first + i).padStart(6, '0')}.png`), png);
    }),
  );
}

export const generatorSampleStage: StageImpl<GeneratorSampleConfig> = { descriptor: generatorSampleDescriptor, run };
