/**
 * The `generator.sample-merge` stage kind: concatenates the `samples` .npz of generator.sample shards
 * in global sample order, streaming rows (a 50k × 256² batch never sits in memory). The shards must
 * tile 0..N−1 exactly (their `indices` and `total` members say where they belong), so a missing or
 * doubled shard is an error rather than a silently short batch. The result has the bytes a single
 * shard would have written. PNG outputs of the shards are not merged.
 */
import path from 'node:path';
import { PipelineError } from '../core/errors';
import { NpzReader } from '../data/npz';
import { NpzWriter } from '../data/npz-writer';
import { generatorSampleMergeDescriptor, type GeneratorSampleMergeConfig } from './generator-sample-config';
import type { StageContext, StageImpl, StageResult } from './stage';

const ROWS_PER_READ = 64;

interface Part {
  name: string;
  reader: NpzReader;
  indices: Int32Array;
  labels: Int32Array;
  total: number;
  rowShape: number[];
}

async function openPart(name: string, file: string): Promise<Part> {
  const reader = await NpzReader.open(file);
  try {
    for (const k of ['arr_0', 'labels', 'indices', 'total']) {
      if (!reader.has(k))
        throw new PipelineError('INPUT_MISSING', `input ${name} (${file}) has no '${k}': wire the \`samples\` outputs of generator.sample shards`);
    }
    const indices = (await reader.read('indices')).data as Int32Array;
    const labels = (await reader.read('labels')).data as Int32Array;
    const total = ((await reader.read('total')).data as Int32Array)[0] as number;
    const header = await reader.header('arr_0');
    if (header.dtype !== 'u1' || header.shape[0] !== indices.length)
      throw new PipelineError('TENSOR_SHAPE', `input ${name}: arr_0 is ${header.dtype} (${header.shape.join(', ')}) for ${indices.length} indices`);
    return { name, reader, indices, labels, total, rowShape: header.shape.slice(1) };
  } catch (e) {
    await reader.close();
    throw e;
  }
}

async function run(ctx: StageContext<GeneratorSampleMergeConfig>): Promise<StageResult> {
  const names = Object.keys(ctx.inputs).sort();
  if (names.length === 0) throw new PipelineError('INPUT_MISSING', 'generator.sample-merge needs the `samples` outputs of the shards as inputs');
  const parts: Part[] = [];
  try {
    for (const n of names) parts.push(await openPart(n, ctx.inputs[n] as string));
    parts.sort((a, b) => (a.indices[0] ?? 0) - (b.indices[0] ?? 0));
    const first = parts[0] as Part;
    let next = 0;
    for (const p of parts) {
      if (p.total !== first.total || p.rowShape.join() !== first.rowShape.join())
        throw new PipelineError(
          'INPUT_MISSING',
          `inputs ${first.name} and ${p.name} come from different samplings (N ${first.total} vs ${p.total}, images ${first.rowShape.join('×')} vs ${p.rowShape.join('×')})`,
        );
      if (p.indices.some((g, i) => g !== next + i))
        throw new PipelineError(
          'INPUT_MISSING',
          `input ${p.name} starts at sample ${p.indices[0]} but the shards before it end at ${next - 1}: a shard is missing or doubled`,
        );
      next += p.indices.length;
    }
    if (next !== first.total)
      throw new PipelineError('INPUT_MISSING', `the ${parts.length} input(s) hold samples 0..${next - 1} of ${first.total}: a shard is missing`);

    const out = path.join(ctx.workdir, 'samples.npz');
    const writer = await NpzWriter.create(out);
    try {
      await writer.begin('arr_0', 'u1', [next, ...first.rowShape]);
      let done = 0;
      for (const p of parts) {
        for await (const rows of p.reader.rows('arr_0', ROWS_PER_READ)) {
          await writer.write(rows.data as Uint8Array);
          done += rows.count;
          ctx.progress({ step: done, total: next, message: `merging ${p.name}` });
        }
      }
      await writer.end();
      const cat = (f: (p: Part) => Int32Array) => Int32Array.from(parts.flatMap((p) => Array.from(f(p))));
      await writer.add(
        'labels',
        'i4',
        cat((p) => p.labels),
        [next],
      );
      await writer.add(
        'indices',
        'i4',
        cat((p) => p.indices),
        [next],
      );
      await writer.add('total', 'i4', Int32Array.of(next), [1]);
      await writer.close();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    ctx.log.info(`merged ${parts.length} shard(s): ${next} samples`);
    return { outputs: { samples: out }, metrics: { images: next, shards: parts.length } };
  } finally {
    await Promise.all(parts.map((p) => p.reader.close()));
  }
}

export const generatorSampleMergeStage: StageImpl<GeneratorSampleMergeConfig> = { descriptor: generatorSampleMergeDescriptor, run };
