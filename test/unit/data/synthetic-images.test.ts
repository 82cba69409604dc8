/**
 * The procedural dataset: layout an ImageFolder reader accepts, byte-identical output for the same
 * config, images independent of the counts, classes that differ, and the speed the smoke runs need.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isPipelineError } from '../../../core/errors';
import { openImageFolder } from '../../../data/image-folder';
import { decodeRgb } from '../../../data/images';
import { SHAPES, syntheticClasses, TEXTURES, writeSyntheticDataset, type SyntheticDatasetOptions } from '../../../data/synthetic-images';

async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const rel of (await readdir(dir, { recursive: true })).sort()) {
    const file = path.join(dir, rel);
    const body = await readFile(file).catch(() => undefined); // directories
    if (body !== undefined) out.set(rel, createHash('sha256').update(body).digest('hex'));
  }
  return out;
}

const small: SyntheticDatasetOptions = { imageSize: 16, numClasses: 3, trainPerClass: 4, valPerClass: 2, seed: 7 };

test('ImageFolder layout with train/val splits and dataset.json; class order = class index', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'synth-'));
  const info = await writeSyntheticDataset(dir, small);
  const meta = JSON.parse(await readFile(path.join(dir, 'dataset.json'), 'utf8')) as typeof info;
  assert.deepEqual(meta, JSON.parse(JSON.stringify(info)));
  assert.equal(meta.version, '1');
  assert.deepEqual(meta.splits, { train: { perClass: 4, count: 12 }, val: { perClass: 2, count: 6 } });
  assert.deepEqual(
    meta.classes.map((c) => c.name),
    ['00-disc-solid', '01-square-solid', '02-triangle-solid'],
  );
  const train = await openImageFolder(path.join(dir, 'train'));
  assert.deepEqual(
    train.classNames,
    meta.classes.map((c) => c.name),
  );
  assert.deepEqual(train.samples.map((s) => [path.relative(dir, s.path), s.label]).slice(0, 5), [
    ['train/00-disc-solid/000.png', 0],
    ['train/00-disc-solid/001.png', 0],
    ['train/00-disc-solid/002.png', 0],
    ['train/00-disc-solid/003.png', 0],
    ['train/01-square-solid/000.png', 1],
  ]);
  const val = await openImageFolder(path.join(dir, 'val'));
  assert.equal(val.samples.length, 6);
  const img = await decodeRgb(path.join(dir, 'val', '02-triangle-solid', '001.png'));
  assert.deepEqual([img.width, img.height, img.data.length], [16, 16, 768]);
});

test('deterministic: the same config gives byte-identical files; another seed does not', async () => {
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => mkdtemp(path.join(os.tmpdir(), 'synth-'))));
  await writeSyntheticDataset(a as string, small);
  await writeSyntheticDataset(b as string, small);
  await writeSyntheticDataset(c as string, { ...small, seed: 8 });
  const ta = await tree(a as string);
  assert.equal(ta.size, 3 * 6 + 1);
  assert.deepEqual(ta, await tree(b as string));
  const tc = await tree(c as string);
  assert.notEqual(tc.get('train/00-disc-solid/000.png'), ta.get('train/00-disc-solid/000.png'));
});

test('an image depends only on (seed, split, class, index), not on the counts', async () => {
  const [a, b] = await Promise.all([0, 1].map(() => mkdtemp(path.join(os.tmpdir(), 'synth-'))));
  await writeSyntheticDataset(a as string, small);
  await writeSyntheticDataset(b as string, { ...small, numClasses: 5, trainPerClass: 6, valPerClass: 1 });
  const [ta, tb] = [await tree(a as string), await tree(b as string)];
  for (const f of ['train/01-square-solid/003.png', 'val/02-triangle-solid/000.png']) assert.equal(tb.get(f), ta.get(f), f);
  assert.notEqual(ta.get('train/01-square-solid/003.png'), ta.get('train/01-square-solid/002.png'));
});

test('classes: distinct (shape, texture) pairs for the first 32, distinct hues, names sort in class order', () => {
  const classes = syntheticClasses(120);
  const pairs = new Set(classes.slice(0, SHAPES.length * TEXTURES.length).map((c) => `${c.shape}/${c.texture}`));
  assert.equal(pairs.size, 32);
  assert.equal(new Set(classes.map((c) => c.hue)).size, 120);
  assert.deepEqual(
    [...classes.map((c) => c.name)].sort(),
    classes.map((c) => c.name),
  );
  assert.equal(classes[100]?.name, '100-stripes-solid');
});

test('the shape carries the class hue: the most saturated pixel of every image is near it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'synth-'));
  const info = await writeSyntheticDataset(dir, { imageSize: 24, numClasses: 8, trainPerClass: 5, valPerClass: 0, seed: 1 });
  const folder = await openImageFolder(path.join(dir, 'train'));
  for (const s of folder.samples) {
    const { data } = await decodeRgb(s.path);
    let best = { sat: -1, hue: 0 };
    for (let i = 0; i < data.length; i += 3) {
      const [r, g, b] = [data[i], data[i + 1], data[i + 2]].map((v) => (v as number) / 255) as [number, number, number];
      const max = Math.max(r, g, b);
      const d = max - Math.min(r, g, b);
      if (max === 0 || d / max <= best.sat) continue;
      const h = d === 0 ? 0 : max === r ? ((g - b) / d + 6) % 6 : max === g ? (b - r) / d + 2 : (r - g) / d + 4;
      best = { sat: d / max, hue: h / 6 };
    }
    const want = info.classes[s.label]?.hue as number;
    const dist = Math.min(Math.abs(best.hue - want), 1 - Math.abs(best.hue - want));
    assert.ok(dist < 0.1, `${s.path}: hue ${best.hue.toFixed(3)} vs class hue ${want}`);
  }
});

test('bad options are CONFIG_INVALID', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'synth-'));
  await assert.rejects(writeSyntheticDataset(dir, { ...small, imageSize: 4 }), (e) => isPipelineError(e, 'CONFIG_INVALID') && /imageSize/.test(e.message));
  await assert.rejects(writeSyntheticDataset(dir, { ...small, seed: -1 }), (e) => isPipelineError(e, 'CONFIG_INVALID'));
});

test('speed: 10 classes × 100 images at 32 px in a few seconds', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'synth-'));
  const t0 = performance.now();
  await writeSyntheticDataset(dir, { imageSize: 32, numClasses: 10, trainPerClass: 100, valPerClass: 0, seed: 0 });
  const ms = performance.now() - t0;
  // Generous for a loaded shared machine; ~1-2 s when the machine is idle.
  assert.ok(ms < 20_000, `${ms.toFixed(0)} ms`);
});
