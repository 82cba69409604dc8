/**
 * ADM crops against Pillow / upstream references (test/parity/adm-crop/make_fixture.py): the JS
 * Pillow resampler is bit-exact; sharp's cubic resize stays within a level or two of Pillow's
 * BICUBIC; ten-crop follows torchvision's order; random crops are reproducible from the Rng.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { centerCropArr, cropRgb, flipHorizontal, randomCropArr, resizeBicubic, roundHalfEven, tenCrop, writeChwSigned } from '../../../data/adm-crop';
import { decodeRgb, type RgbImage } from '../../../data/images';
import { readNpyFile } from '../../../data/npy';
import { pilResize } from '../../../data/pil-resample';
import { Rng } from '../../../models/training/rng';

const FIX = path.resolve(__dirname, '..', '..', 'fixtures', 'parity', 'adm-crop');

async function ref(name: string): Promise<RgbImage> {
  const a = await readNpyFile(path.join(FIX, `${name}.npy`));
  assert.equal(a.dtype, 'u1');
  const [height, width] = a.shape as [number, number];
  return { data: a.data as Uint8Array, height, width };
}

function diff(a: RgbImage, b: RgbImage): { max: number; mean: number } {
  assert.deepEqual([a.width, a.height], [b.width, b.height], 'image sizes');
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) {
    const d = Math.abs((a.data[i] as number) - (b.data[i] as number));
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.data.length };
}

const source = () => decodeRgb(path.join(FIX, 'source.png'));

test('the JS Pillow resampler is bit-exact for BOX and BICUBIC, down and up', async () => {
  const img = await source();
  assert.deepEqual(diff(pilResize(img, 37, 26, 'box'), await ref('box-half')), { max: 0, mean: 0 });
  assert.deepEqual(diff(pilResize(img, 23, 16, 'bicubic'), await ref('bicubic-down')), { max: 0, mean: 0 });
  assert.deepEqual(diff(pilResize(img, 91, 64, 'bicubic'), await ref('bicubic-up')), { max: 0, mean: 0 });
});

test('center_crop_arr: exact with the Pillow resampler, within a small tolerance with sharp', async () => {
  const img = await source();
  for (const size of [16, 32, 64]) {
    const want = await ref(`center-${size}`);
    assert.deepEqual(diff(await centerCropArr(img, size, { resampler: 'pil' }), want), { max: 0, mean: 0 }, `pil ${size}`);
    const d = diff(await centerCropArr(img, size), want);
    // Same Catmull-Rom kernel; libvips' fixed-point rounding differs from Pillow's (measured: max 2-4, mean 0.27).
    assert.ok(d.max <= 4 && d.mean <= 0.4, `sharp ${size}: max ${d.max}, mean ${d.mean.toFixed(3)}`);
    if (size === 64) assert.equal(d.max, 0, 'upsizing runs in the Pillow-exact resampler');
  }
});

test('ten-crop: torchvision order (4 corners + centre, then those of the mirrored image)', async () => {
  const img = await source();
  const all = await ref('tencrop-16'); // [10, 16, 16, 3]
  const crops = await tenCrop(img, 16, { resampler: 'pil' });
  assert.equal(crops.length, 10);
  crops.forEach((c, i) => {
    const want = { data: all.data.subarray(i * 768, (i + 1) * 768), width: 16, height: 16 };
    assert.deepEqual(diff(c, want), { max: 0, mean: 0 }, `crop ${i}`);
  });
});

test('random_crop_arr: the short side is drawn from [s, ceil(s/0.8)], same Rng state ⇒ same crop', async () => {
  const img = await source();
  const seen = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const a = await randomCropArr(img, 32, Rng.fromSeed(seed));
    const b = await randomCropArr(img, 32, Rng.fromSeed(seed));
    assert.deepEqual([a.width, a.height], [32, 32]);
    assert.deepEqual(a.data, b.data);
    seen.add(Buffer.from(a.data).toString('base64'));
  }
  assert.ok(seen.size > 30, `crops should vary with the seed (${seen.size} distinct of 40)`);
  // With min = max crop fraction 1 and no flip, the window is the short side: a pure resize + random offset.
  const r = Rng.fromSeed(3);
  const c = await randomCropArr(img, 53, r, { minCropFrac: 1, flip: false, resampler: 'pil' });
  const left = Rng.fromSeed(3);
  left.int(1); // short side (one choice)
  left.int(1); // crop y (one choice)
  assert.deepEqual(c.data, cropRgb(img, 0, left.int(75 - 53 + 1), 53, 53).data);
});

test('random_crop_arr equals upstream for the same draws (short side 20, crop y 3, x 7, no flip)', async () => {
  const img = await source();
  const ints = [20 - 16, 3, 7];
  // Only the draws matter here: a stand-in stream that replays upstream's fixed choices.
  const replay = {
    int: (n: number) => {
      const v = ints.shift() as number;
      assert.ok(v < n);
      return v;
    },
    uniform: () => 0.9,
  } as unknown as Rng;
  const got = await randomCropArr(img, 16, replay, { resampler: 'pil' });
  assert.deepEqual(diff(got, await ref('random-16')), { max: 0, mean: 0 });
  assert.equal(ints.length, 0);
});

test('flip, crop, round-half-even and the [-1, 1] CHW layout', () => {
  const img: RgbImage = { data: Uint8Array.from([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 255, 254, 253]), width: 3, height: 2 };
  assert.deepEqual(Array.from(flipHorizontal(img).data), [20, 21, 22, 10, 11, 12, 0, 1, 2, 255, 254, 253, 40, 41, 42, 30, 31, 32]);
  assert.deepEqual(Array.from(cropRgb(img, 1, 1, 1, 2).data), [40, 41, 42, 255, 254, 253]);
  assert.throws(() => cropRgb(img, 1, 2, 1, 2), /outside/);
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, 12.5, 3.4, 3.6].map(roundHalfEven), [0, 2, 2, -0, 12, 3, 4]);
  const out = new Float32Array(1 + 18);
  writeChwSigned(img, out, 1);
  assert.equal(out[0], 0);
  assert.deepEqual(
    Array.from(out.subarray(1, 7)).map((v) => Math.round((v + 1) * 127.5)),
    [0, 10, 20, 30, 40, 255],
  );
  assert.equal(out[1], -1);
  assert.equal(out[6], 1);
});

test('sharp downsizing stays within 4 levels of Pillow BICUBIC; upsizing is Pillow-exact', async () => {
  const img = await source();
  const down = diff(await resizeBicubic(img, 23, 16), await ref('bicubic-down'));
  assert.ok(down.max <= 4 && down.mean <= 0.4, `down: max ${down.max}, mean ${down.mean.toFixed(3)}`);
  assert.deepEqual(diff(await resizeBicubic(img, 91, 64), await ref('bicubic-up')), { max: 0, mean: 0 });
});

test('resizeBicubic to the same size is a copy (as Pillow returns a copy)', async () => {
  const img = await source();
  const same = await resizeBicubic(img, img.width, img.height);
  assert.deepEqual(same.data, img.data);
  assert.notEqual(same.data, img.data);
});
