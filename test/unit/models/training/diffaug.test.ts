import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { diffAugment, drawDiffAug, roundHalfEven } from '../../../../models/training/diffaug';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';
import { useCpuBackend } from '../layers/gradcheck';

before(useCpuBackend);

const ONLY = { translation: false, color: false, cutout: false };

test('round half to even, like Python', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 51.2, 4, 6.4].map(roundHalfEven), [0, 2, 2, 51, 4, 6]);
});

test('same Rng state → same output; each call consumes exactly 7·B uniforms', async () => {
  const x = tf.tensor4d(randomValues(3 * 3 * 16 * 16, 1), [3, 3, 16, 16]);
  await expectNoTensorLeak(() => {
    const a = Rng.fromSeed(5);
    const b = Rng.fromSeed(5);
    const ya = diffAugment(x, a);
    const yb = diffAugment(x, b);
    assert.deepEqual(ya.dataSync(), yb.dataSync());
    const c = Rng.fromSeed(5);
    drawDiffAug(c, 3);
    assert.deepEqual(a.getState(), c.getState());
    const yc = diffAugment(x, a);
    assert.notDeepEqual(yc.dataSync(), ya.dataSync());
    tf.dispose([ya, yb, yc]);
  });
  x.dispose();
});

test('translation: each sample is its input shifted by (ty, tx) ∈ [−δ, δ]², zero-filled; shifts are uniform', async () => {
  const [B, C, H, W] = [400, 1, 8, 8]; // δ = round(8·0.125) = 1
  const vals = new Float32Array(B * C * H * W);
  for (let i = 0; i < vals.length; i++) vals[i] = (i % (H * W)) + 1; // every pixel distinct and non-zero
  const x = tf.tensor4d(vals, [B, C, H, W]);
  const rng = Rng.fromSeed(9);
  const u = drawDiffAug(Rng.fromSeed(9), B);
  const y = await expectNoTensorLeak(() => diffAugment(x, rng, { ...ONLY, translation: true }), { allowed: 1 });
  const out = y.dataSync();
  const counts = new Map<string, number>();
  for (let b = 0; b < B; b++) {
    const ty = Math.floor((u[b] as number) * 3) - 1;
    const tx = Math.floor((u[B + b] as number) * 3) - 1;
    counts.set(`${ty},${tx}`, (counts.get(`${ty},${tx}`) ?? 0) + 1);
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        const [sh, sw] = [h + ty, w + tx];
        const expected = sh >= 0 && sh < H && sw >= 0 && sw < W ? sh * W + sw + 1 : 0;
        assert.equal(out[b * H * W + h * W + w], expected, `sample ${b} (${ty}, ${tx}) pixel (${h}, ${w})`);
      }
    }
  }
  assert.equal(counts.size, 9);
  for (const n of counts.values()) assert.ok(Math.abs(n - B / 9) < 5 * Math.sqrt(B / 9), `shift counts ${JSON.stringify([...counts])}`);
  tf.dispose([x, y]);
});

test('colour statistics: brightness offset U(−½, ½), saturation factor U(0, 2), contrast factor U(½, 3⁄2)', () => {
  const B = 2000;
  const rng = Rng.fromSeed(11);
  // constant grey images: saturation and contrast act around their own means, so only brightness shows
  const grey = tf.fill([B, 3, 2, 2], 0.25);
  const yb = diffAugment(grey, rng, { ...ONLY, color: true });
  const off = Array.from(yb.dataSync())
    .filter((_, i) => i % 12 === 0)
    .map((v) => v - 0.25);
  const mean = off.reduce((a, b) => a + b, 0) / B;
  const variance = off.reduce((a, b) => a + (b - mean) ** 2, 0) / B;
  assert.ok(Math.min(...off) >= -0.5 && Math.max(...off) <= 0.5);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1 / 12) < 0.01, `brightness mean ${mean}, var ${variance}`);

  // channels (a, −a, 0) with zero image mean: pixel (a) maps to 2u_s·(u_c+½)·a after brightness (which cancels out)
  const a = new Float32Array(B * 3).fill(0);
  for (let b = 0; b < B; b++) [a[b * 3], a[b * 3 + 1]] = [0.3, -0.3];
  const x = tf.tensor4d(a, [B, 3, 1, 1]);
  const u = drawDiffAug(Rng.fromSeed(12), B);
  const y = diffAugment(x, Rng.fromSeed(12), { ...ONLY, color: true });
  const out = y.dataSync();
  for (let b = 0; b < B; b += 97) {
    const brightness = (u[2 * B + b] as number) - 0.5;
    const sat = 2 * (u[3 * B + b] as number);
    const con = (u[4 * B + b] as number) + 0.5;
    const pixMean = brightness; // mean over channels of (0.3+br, −0.3+br, br)
    const imgMean = brightness;
    const expected = (0.3 * sat + pixMean - imgMean) * con + imgMean;
    assert.ok(Math.abs((out[b * 3] as number) - expected) < 1e-5, `sample ${b}: ${out[b * 3]} vs ${expected}`);
  }
  const ratios = Array.from({ length: B }, (_, b) => ((out[b * 3] as number) - (out[b * 3 + 2] as number)) / 0.3);
  const sc = ratios.reduce((s, r) => s + r, 0) / B; // E[2u_s]·E[u_c + ½] = 1
  assert.ok(Math.abs(sc - 1) < 0.05, `mean saturation·contrast factor ${sc}`);
  tf.dispose([grey, yb, x, y]);
});

test('cutout zeroes one clipped square per sample: 51×51 at 256 when inside', () => {
  const B = 4;
  const rng = Rng.fromSeed(13);
  const x = tf.ones([B, 3, 256, 256]);
  const u = drawDiffAug(Rng.fromSeed(13), B);
  const y = diffAugment(x, rng, { ...ONLY, cutout: true });
  const m = y.slice([0, 0, 0, 0], [B, 1, 256, 256]).dataSync();
  for (let b = 0; b < B; b++) {
    const cy = Math.floor((u[5 * B + b] as number) * 256);
    const cx = Math.floor((u[6 * B + b] as number) * 256);
    const rows = [Math.max(0, cy - 25), Math.min(255, cy + 25)];
    const cols = [Math.max(0, cx - 25), Math.min(255, cx + 25)];
    let zeros = 0;
    for (let i = 0; i < 256 * 256; i++) if (m[b * 256 * 256 + i] === 0) zeros++;
    assert.equal(zeros, (rows[1]! - rows[0]! + 1) * (cols[1]! - cols[0]! + 1), `sample ${b}`);
    assert.equal(m[b * 256 * 256 + cy * 256 + cx], 0);
  }
  tf.dispose([x, y]);
});

test('gradient reaches x, is finite, and equals the mask/shift structure; no tensors leak', async () => {
  const x = tf.tensor4d(randomValues(2 * 3 * 16 * 16, 3), [2, 3, 16, 16]);
  await expectNoTensorLeak(() => {
    const rng = Rng.fromSeed(21);
    const g = tf.grad((xx: tf.Tensor) => diffAugment(xx, rng).square().sum())(x);
    assert.deepEqual(g.shape, x.shape);
    const d = g.dataSync();
    assert.ok(d.every(Number.isFinite));
    assert.ok(d.some((v) => v !== 0));
    // translation + cutout only: the gradient of Σ y is 1 on read pixels, 0 on dropped ones
    const g2 = tf.grad((xx: tf.Tensor) => diffAugment(xx, Rng.fromSeed(22), { color: false }).sum())(x);
    assert.ok(g2.dataSync().every((v) => v === 0 || v === 1));
    tf.dispose([g, g2]);
  });
  // the identity when everything is off
  const y = diffAugment(x, Rng.fromSeed(1), ONLY);
  expectClose(y.dataSync(), x.dataSync(), 1e-7);
  tf.dispose([x, y]);
});
