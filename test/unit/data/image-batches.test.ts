/**
 * ImageFolder listing and the batch loader: class indices, colour conversion, corrupt and missing
 * data, and the resume property — batches from (epoch, step) equal an uninterrupted epoch's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { isPipelineError } from '../../../core/errors';
import { ImageBatchLoader, subStream, type ImageBatch, type ImageBatchLoaderOptions } from '../../../data/image-batches';
import { decodeSample, openImageFolder } from '../../../data/image-folder';
import { Rng } from '../../../models/training/rng';

/** dir/<class>/<i>.png, sizes varying so random crops really resize; colour encodes (class, i). */
async function makeFolder(classes: readonly string[], perClass: number): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgfolder-'));
  for (const [c, name] of classes.entries()) {
    await mkdir(path.join(root, name), { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const background = { r: 20 * c, g: 10 * i, b: 200 };
      await sharp({ create: { width: 20 + 3 * i, height: 18 + 2 * c, channels: 3, background } })
        .png()
        .toFile(path.join(root, name, `${String(i).padStart(2, '0')}.png`));
    }
  }
  return root;
}

const base = (root: string): ImageBatchLoaderOptions => ({ root, imageSize: 16, batchSize: 3, augment: 'random-crop-flip', shuffle: true, dropLast: true });

async function collect(gen: AsyncGenerator<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of gen) out.push(b);
  return out;
}

test('ImageFolder: sorted class folders → 0..C-1, files sorted, hidden folders and non-images ignored', async () => {
  const root = await makeFolder(['zebra', 'ant', 'Moth'], 2);
  await mkdir(path.join(root, '.cache'));
  await writeFile(path.join(root, 'ant', 'notes.txt'), 'x');
  await mkdir(path.join(root, 'ant', 'nested'));
  await sharp({ create: { width: 4, height: 4, channels: 3, background: 'red' } })
    .jpeg()
    .toFile(path.join(root, 'ant', 'nested', 'a.JPG'));
  const f = await openImageFolder(root);
  assert.deepEqual(f.classNames, ['Moth', 'ant', 'zebra']);
  assert.deepEqual(
    f.samples.map((s) => [path.relative(root, s.path), s.label]),
    [
      ['Moth/00.png', 0],
      ['Moth/01.png', 0],
      ['ant/00.png', 1],
      ['ant/01.png', 1],
      ['ant/nested/a.JPG', 1],
      ['zebra/00.png', 2],
      ['zebra/01.png', 2],
    ],
  );
});

test('symbolic links to class folders and image files are followed; a link cycle is walked once', async () => {
  const store = await makeFolder(['real'], 2);
  const root = await mkdtemp(path.join(os.tmpdir(), 'imgfolder-links-'));
  await symlink(path.join(store, 'real'), path.join(root, 'linked'));
  await mkdir(path.join(root, 'plain'));
  await symlink(path.join(store, 'real', '00.png'), path.join(root, 'plain', 'x.png'));
  await symlink(path.join(root, 'plain'), path.join(root, 'plain', 'loop'));
  await symlink(path.join(root, 'absent.png'), path.join(root, 'plain', 'dangling.png'));
  const f = await openImageFolder(root);
  assert.deepEqual(f.classNames, ['linked', 'plain']);
  assert.deepEqual(
    f.samples.map((s) => [path.relative(root, s.path), s.label]),
    [
      ['linked/00.png', 0],
      ['linked/01.png', 0],
      ['plain/x.png', 1],
    ],
  );
});

test('missing or empty dataset directories are INPUT_MISSING naming the path and the layout', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgfolder-'));
  await assert.rejects(
    openImageFolder(path.join(dir, 'absent')),
    (e) => isPipelineError(e, 'INPUT_MISSING') && e.message.includes(path.join(dir, 'absent')) && /one subfolder per class/.test(e.message),
  );
  await assert.rejects(openImageFolder(dir), (e) => isPipelineError(e, 'INPUT_MISSING') && /no class subfolders/.test(e.message));
  await mkdir(path.join(dir, 'cat'));
  await assert.rejects(ImageBatchLoader.open(base(dir)), (e) => isPipelineError(e, 'INPUT_MISSING') && /no images/.test(e.message));
});

test('grayscale, RGBA and CMYK images decode to RGB', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'imgfolder-'));
  const gray = path.join(dir, 'g.png');
  await sharp(Buffer.from([0, 128, 255, 7]), { raw: { width: 2, height: 2, channels: 1 } })
    .png()
    .toFile(gray);
  const rgba = path.join(dir, 'a.png');
  await sharp(Buffer.from([10, 20, 30, 0, 40, 50, 60, 255]), { raw: { width: 2, height: 1, channels: 4 } })
    .png()
    .toFile(rgba);
  const cmyk = path.join(dir, 'c.jpg');
  await sharp({ create: { width: 3, height: 3, channels: 3, background: { r: 255, g: 0, b: 0 } } })
    .toColourspace('cmyk')
    .jpeg({ quality: 100 })
    .toFile(cmyk);
  assert.equal((await sharp(cmyk).metadata()).space, 'cmyk');
  assert.deepEqual(Array.from((await decodeSample(gray))?.data ?? []), [0, 0, 0, 128, 128, 128, 255, 255, 255, 7, 7, 7]);
  assert.deepEqual(Array.from((await decodeSample(rgba))?.data ?? []), [10, 20, 30, 40, 50, 60]);
  const red = await decodeSample(cmyk);
  assert.equal(red?.data.length, 27);
  assert.ok((red?.data[0] ?? 0) > 200 && (red?.data[1] ?? 255) < 60, `CMYK red decodes as red, got ${Array.from(red?.data.subarray(0, 3) ?? []).join(',')}`);
});

test('a corrupt image is DATA_CORRUPT naming the file and the fix, or skipped with a warning', async () => {
  const root = await makeFolder(['a', 'b'], 3);
  const bad = path.join(root, 'b', '01.png');
  await writeFile(bad, 'not a png');
  const strict = await ImageBatchLoader.open({ ...base(root), batchSize: 6, shuffle: false });
  await assert.rejects(
    collect(strict.epoch(0, Rng.fromSeed(0))),
    (e) => isPipelineError(e, 'DATA_CORRUPT') && e.message.includes(bad) && /skipCorrupt: true/.test(e.message),
  );
  const warnings: string[] = [];
  const lenient = await ImageBatchLoader.open({ ...base(root), batchSize: 6, shuffle: false, skipCorrupt: true, log: (m) => warnings.push(m) });
  const [batch] = await collect(lenient.epoch(0, Rng.fromSeed(0)));
  assert.deepEqual(batch?.shape, [5, 3, 16, 16]);
  assert.deepEqual(Array.from(batch?.labels ?? []), [0, 0, 0, 1, 1]);
  assert.equal(batch?.paths.includes(bad), false);
  assert.equal(warnings.length, 1);
  assert.ok(warnings[0]?.includes(bad));
});

test('batches: NCHW in [-1, 1], labels and paths aligned, steps per epoch with and without dropLast', async () => {
  const root = await makeFolder(['a', 'b'], 4);
  const train = await ImageBatchLoader.open(base(root));
  assert.deepEqual([train.numImages, train.numClasses, train.classNames, train.stepsPerEpoch()], [8, 2, ['a', 'b'], 2]);
  const val = await ImageBatchLoader.open({ ...base(root), augment: 'center-crop', shuffle: false, dropLast: false });
  assert.equal(val.stepsPerEpoch(), 3);
  const batches = await collect(val.epoch(0, Rng.fromSeed(0)));
  assert.deepEqual(
    batches.map((b) => b.shape),
    [
      [3, 3, 16, 16],
      [3, 3, 16, 16],
      [2, 3, 16, 16],
    ],
  );
  assert.deepEqual(
    batches.map((b) => b.step),
    [0, 1, 2],
  );
  const all = batches.flatMap((b) => b.paths.map((p, i) => [path.relative(root, p), b.labels[i]]));
  assert.deepEqual(all, [
    ['a/00.png', 0],
    ['a/01.png', 0],
    ['a/02.png', 0],
    ['a/03.png', 0],
    ['b/00.png', 1],
    ['b/01.png', 1],
    ['b/02.png', 1],
    ['b/03.png', 1],
  ]);
  // b/02.png is a flat colour (20, 20, 200): every pixel of its centre crop is that colour, channel-planar.
  const last = batches[2] as ImageBatch;
  const plane = 16 * 16;
  const want = [20, 20, 200].map((v) => v / 127.5 - 1);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) assert.ok(Math.abs((last.images[c * plane + i] as number) - (want[c] as number)) < 1e-6);
  }
  for (const b of batches) for (const v of b.images) assert.ok(v >= -1 && v <= 1);
});

test('resume: epoch(e, rng, s) yields exactly the batches s.. of an uninterrupted epoch; epochs differ; the rng is not advanced', async () => {
  const root = await makeFolder(['a', 'b', 'c'], 5);
  const loader = await ImageBatchLoader.open({ ...base(root), batchSize: 4 });
  const rng = Rng.fromSeed(1234);
  const before = rng.getState();
  const full = await collect(loader.epoch(1, rng));
  assert.deepEqual(rng.getState(), before);
  assert.equal(full.length, 3);
  // Another Rng object with the same state, as a restored checkpoint would build.
  const resumed = await collect(loader.epoch(1, new Rng(before), 1));
  assert.equal(resumed.length, 2);
  for (const [i, b] of resumed.entries()) {
    const want = full[i + 1] as ImageBatch;
    assert.deepEqual(b.paths, want.paths);
    assert.deepEqual(b.labels, want.labels);
    assert.deepEqual(b.images, want.images);
    assert.equal(b.step, i + 1);
  }
  const other = await collect(loader.epoch(2, rng));
  assert.notDeepEqual(
    other.map((b) => b.paths),
    full.map((b) => b.paths),
  );
  // Drawing from the stream between epochs does not change what the loader yields (only the key matters).
  rng.nextUint32();
  assert.deepEqual(
    (await collect(loader.epoch(1, rng))).map((b) => b.images),
    full.map((b) => b.images),
  );
  const otherSeed = await collect(loader.epoch(1, Rng.fromSeed(99)));
  assert.notDeepEqual(
    otherSeed.map((b) => b.paths),
    full.map((b) => b.paths),
  );
  assert.equal(full.flatMap((b) => b.paths).length, new Set(full.flatMap((b) => b.paths)).size, 'no image twice within an epoch');
  await assert.rejects(collect(loader.epoch(1, rng, 4)), (e) => isPipelineError(e, 'CHECKPOINT_MISMATCH'));
});

test('the decode cache changes nothing but speed', async () => {
  const root = await makeFolder(['a', 'b'], 4);
  const cached = await ImageBatchLoader.open(base(root));
  const uncached = await ImageBatchLoader.open({ ...base(root), decodeCacheBytes: 0 });
  for (const epoch of [0, 1, 2]) {
    const [x, y] = [await collect(cached.epoch(epoch, Rng.fromSeed(3))), await collect(uncached.epoch(epoch, Rng.fromSeed(3)))];
    assert.deepEqual(
      x.map((b) => b.images),
      y.map((b) => b.images),
      `epoch ${epoch}`,
    );
  }
});

test('a consumer that stops early leaves no unhandled rejection from the prefetch', async () => {
  const root = await makeFolder(['a'], 4);
  await writeFile(path.join(root, 'a', '03.png'), 'broken');
  const loader = await ImageBatchLoader.open({ ...base(root), batchSize: 2, shuffle: false });
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    for await (const b of loader.epoch(0, Rng.fromSeed(0))) {
      assert.equal(b.step, 0);
      break; // batch 1 (with the broken file) is being prefetched and fails unseen
    }
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.deepEqual(unhandled, []);
});

test('subStream: independent of the base stream position, distinct per purpose and index', () => {
  const a = Rng.fromSeed(5);
  const s1 = subStream(a, 1, 0, 7).nextUint32();
  a.nextUint32();
  assert.equal(subStream(a, 1, 0, 7).nextUint32(), s1);
  assert.notEqual(subStream(a, 1, 0, 8).nextUint32(), s1);
  assert.notEqual(subStream(a, 2, 0, 7).nextUint32(), s1);
  assert.notEqual(subStream(a, 1, 1, 7).nextUint32(), s1);
});
