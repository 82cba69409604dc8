/**
 * The `posttrain.pairs-merge` stage kind: joins the `pairs` folders of posttrain.pairs shards into the
 * folder one unsharded stage would have written (same PNG bytes, same pairs.json). Shards come from
 * the same selection, seeds, sampling settings and weights (their pairs.json say so, down to the
 * weights' digests) and must tile shard indices 0..count−1 exactly: a missing, doubled or foreign
 * shard is an error, never a silently short dataset.
 */
import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { canonicalJson, type Json } from '../core/canonical-json';
import { PipelineError } from '../core/errors';
import { PAIRS_MANIFEST, posttrainPairsMergeDescriptor, type PosttrainPairsMergeConfig } from './posttrain-pairs-config';
import type { StageContext, StageImpl, StageResult } from './stage';

interface ShardInfo {
  readonly index: number;
  readonly count: number;
  readonly first: number;
  readonly end: number;
}

interface Part {
  readonly name: string;
  readonly dir: string;
  readonly manifest: Record<string, Json>;
  readonly shard: ShardInfo;
}

/** Fields that add up over shards; every other field must be equal in all of them. */
const SUMMED = ['count', 'skipped', 'kept_positions', 'positions'] as const;

async function openPart(name: string, dir: string): Promise<Part> {
  let manifest: Record<string, Json>;
  try {
    manifest = JSON.parse(await readFile(path.join(dir, PAIRS_MANIFEST), 'utf8')) as Record<string, Json>;
  } catch (e) {
    throw new PipelineError('INPUT_MISSING', `input ${name} (${dir}) has no readable ${PAIRS_MANIFEST}: wire the \`pairs\` outputs of posttrain.pairs shards`, {
      cause: e,
    });
  }
  if (manifest.format !== 'robustok.posttrain-pairs' || typeof manifest.positions !== 'number') {
    throw new PipelineError(
      'INPUT_MISSING',
      `input ${name}: ${PAIRS_MANIFEST} is not a posttrain.pairs (version 2) manifest; re-run the shards with this version`,
    );
  }
  const s = manifest.shard as ShardInfo | undefined;
  return { name, dir, manifest, shard: s ?? { index: 0, count: 1, first: 0, end: manifest.selected as number } };
}

/** The manifest without its per-shard fields, to compare shards. */
function shared(m: Record<string, Json>): string {
  const rest: Record<string, Json> = { ...m };
  for (const k of [...SUMMED, 'kept_fraction', 'shard']) delete rest[k];
  return canonicalJson(rest);
}

async function copyPngs(from: string, to: string, owner: Map<string, string>, name: string): Promise<void> {
  for (const e of await readdir(from, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || e.name === PAIRS_MANIFEST) continue;
    const rel = path.relative(from, path.join(e.parentPath, e.name));
    const other = owner.get(rel);
    if (other !== undefined) throw new PipelineError('INPUT_MISSING', `inputs ${other} and ${name} both hold ${rel}: the shards overlap`);
    owner.set(rel, name);
    await mkdir(path.dirname(path.join(to, rel)), { recursive: true });
    await cp(path.join(from, rel), path.join(to, rel));
  }
}

async function run(ctx: StageContext<PosttrainPairsMergeConfig>): Promise<StageResult> {
  const names = Object.keys(ctx.inputs).sort();
  if (names.length === 0) throw new PipelineError('INPUT_MISSING', 'posttrain.pairs-merge needs the `pairs` outputs of the shards as inputs');
  const parts = await Promise.all(names.map((n) => openPart(n, ctx.inputs[n] as string)));
  parts.sort((a, b) => a.shard.index - b.shard.index);
  const first = parts[0] as Part;
  const count = first.shard.count;
  const ref = shared(first.manifest);
  let next = 0;
  for (const [i, p] of parts.entries()) {
    if (shared(p.manifest) !== ref)
      throw new PipelineError(
        'INPUT_MISSING',
        `inputs ${first.name} and ${p.name} come from different pairings (σ, seeds, selection, sampling or weights differ)`,
      );
    if (p.shard.count !== count || p.shard.index !== i || p.shard.first !== next) {
      throw new PipelineError(
        'INPUT_MISSING',
        `input ${p.name} is shard ${p.shard.index}/${p.shard.count} but shard ${i}/${count} was expected next: a shard is missing or doubled`,
      );
    }
    next = p.shard.end;
  }
  if (parts.length !== count || next !== (first.manifest.selected as number)) {
    throw new PipelineError(
      'INPUT_MISSING',
      `the ${parts.length} input(s) cover selected images 0..${next - 1} of ${first.manifest.selected as number} (${count} shards expected): a shard is missing`,
    );
  }

  const out = path.join(ctx.workdir, 'pairs');
  await mkdir(out, { recursive: true });
  const owner = new Map<string, string>();
  for (const p of parts) {
    await copyPngs(p.dir, out, owner, p.name);
    ctx.progress({ step: p.shard.index + 1, total: count, message: `merged ${p.name}` });
  }
  // Same key order as the stage's own pairs.json, so one shard and the merge of k write the same bytes.
  const merged: Record<string, Json> = {};
  for (const [k, v] of Object.entries(first.manifest)) {
    if (k === 'shard') continue;
    merged[k] = (SUMMED as readonly string[]).includes(k) ? parts.reduce((a, p) => a + (p.manifest[k] as number), 0) : v;
  }
  const positions = merged.positions as number;
  merged.kept_fraction = positions ? (merged.kept_positions as number) / positions : 0;
  await writeFile(path.join(out, PAIRS_MANIFEST), `${JSON.stringify(merged, null, 2)}\n`);
  ctx.log.info(`merged ${parts.length} shard(s): ${merged.count as number} pairs`);
  return {
    outputs: { pairs: out },
    metrics: { pairs: merged.count as number, skipped: merged.skipped as number, kept_fraction: merged.kept_fraction, shards: parts.length },
  };
}

export const posttrainPairsMergeStage: StageImpl<PosttrainPairsMergeConfig> = { descriptor: posttrainPairsMergeDescriptor, run };
