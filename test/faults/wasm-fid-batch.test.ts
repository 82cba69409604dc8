/**
 * `robustok fid` on the wasm backend at its default batch size (issue 13, item 10). Before: batch 64
 * crashed in FusedConv2D with "memory access out of bounds"; ≤ 50 worked. Cause: the Inception
 * forward pass ran in one tf.tidy, so every activation of the graph stayed allocated until the end —
 * about 74 MB per 299×299 image, measured as wasm heap growth (B=8: 948 MB, 16: 1550 MB, 32: 2729 MB)
 * — and at ~50 images the heap reached wasm32's 4 GiB; tfjs-wasm's kernels do not check the failed
 * allocation and fault. Now each step of the network frees its input (B=8: 375 MB, B=16: 421 MB).
 * Kept small: the peak per image is measured with tf.profile on one image (the same figure decides
 * whether 64 fit), and the default path runs through the CLI on wasm with a few images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { initBackend } from '../../compute/backend';
import { FidInception } from '../../models/inception';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

/** The heap tfjs-wasm can address (wasm32), and the batch `robustok fid` uses by default. */
const WASM_HEAP = 4 * 1024 ** 3;
const DEFAULT_BATCH = 64;

test('Inception on wasm: the activations of one image peak far below what 64 images may use', async () => {
  await initBackend({ backend: 'wasm', log: null });
  const net = FidInception.randomlyInitialised(0);
  const x = tf.zeros<tf.Rank.R4>([1, 299, 299, 3], 'int32');
  try {
    const before = tf.memory().numBytes;
    const prof = await tf.profile(() => {
      const r = net.forward(x);
      return [r.pool, r.spatial, r.logits];
    });
    const perImage = prof.peakBytes - before;
    // One tidy over the whole graph: ~74 MB per image (64 images ≈ 4.7 GB > 4 GiB). Step by step: a few MB.
    assert.ok(perImage < 20e6, `peak activations per image: ${(perImage / 1e6).toFixed(1)} MB`);
    assert.ok(
      before + DEFAULT_BATCH * perImage < WASM_HEAP / 2,
      `a default batch needs ${((before + DEFAULT_BATCH * perImage) / 1e9).toFixed(2)} GB of the wasm heap`,
    );
    tf.dispose(prof.result);
  } finally {
    x.dispose();
    net.dispose();
  }
});

test('robustok --backend wasm fid on image folders at the default batch size', async () => {
  const dir = await tempDir('faults-wasm-fid');
  for (const side of ['a', 'b']) {
    await mkdir(path.join(dir, side));
    for (let i = 0; i < 3; i++) {
      const px = Buffer.alloc(32 * 32 * 3, (i * 70 + (side === 'a' ? 0 : 30)) % 256);
      await sharp(px, { raw: { width: 32, height: 32, channels: 3 } })
        .png()
        .toFile(path.join(dir, side, `${i}.png`));
    }
  }
  const r = await runCli(['--backend', 'wasm', 'fid', path.join(dir, 'a'), path.join(dir, 'b'), '--random-weights', '0', '--store', 'none', '--json'], {
    ...process.env,
  });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { fid: number; n_a: number; n_b: number };
  assert.ok(Number.isFinite(report.fid));
  assert.deepEqual([report.n_a, report.n_b], [3, 3]);
});
