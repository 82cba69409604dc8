/**
 * The semantic teachers: the DINOv2 teacher against timm (fixture from
 * test/parity/semantic-teacher/make_fixture.py: tiny random vit_base_patch14_dinov2 stored under the
 * `semantic_model.` prefix of an upstream tokenizer checkpoint), loading from bare timm names, clear
 * errors on mismatched files; and the small random teacher's shape, determinism and frozenness.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveStateDict } from '../../../compute/checkpoint';
import { readNpyFile } from '../../../data/npy';
import { loadDinov2Teacher, smallTeacher } from '../../../models/semantic-teacher';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, randomValues, relativeError } from '../../helpers/tensors';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'parity', 'semantic-teacher');
let dir = '';
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'semantic-teacher-'));
});
after(() => rm(dir, { recursive: true, force: true }));

interface Cfg {
  image_size: number;
  patch_size: number;
  width: number;
  depth: number;
  num_heads: number;
}
const cfg = async () => JSON.parse(await readFile(path.join(ROOT, 'config.json'), 'utf8')) as Cfg;
const opts = (c: Cfg) => ({ imageSize: c.image_size, patchSize: c.patch_size, width: c.width, depth: c.depth, numHeads: c.num_heads });

test('DINOv2 teacher equals timm (final-norm CLS of ImageNet-normalised input), from a semantic_model.-prefixed checkpoint', async () => {
  const c = await cfg();
  const teacher = await loadDinov2Teacher(path.join(ROOT, 'weights.safetensors'), opts(c));
  const x = await readNpyFile(path.join(ROOT, 'x.npy'));
  const want = await readNpyFile(path.join(ROOT, 'cls.npy'));
  const xt = tf.tensor(x.data, [...x.shape]);
  const got = await expectNoTensorLeak(() => teacher.features(xt), { allowed: 1 });
  assert.deepEqual(got.shape, [2, c.width]);
  const err = relativeError(got.dataSync(), want.data);
  console.log(`semantic teacher parity: max |Δ| / max |ref| = ${err.toExponential(2)}`);
  assert.ok(err < 1e-5, `relative error ${err}`);
  assert.equal(teacher.trainableParameters().size, 0);
  // no gradient reaches the input
  const g = tf.grad((xx: tf.Tensor) => teacher.features(xx).sum())(xt);
  assert.ok(g.dataSync().every((v) => v === 0));

  // the same weights under bare timm names load too
  const bare = path.join(dir, 'bare.safetensors');
  await saveStateDict(bare, teacher.stateDict());
  const t2 = await loadDinov2Teacher(bare, opts(c));
  const again = t2.features(xt);
  assert.deepEqual(again.dataSync(), got.dataSync());
  tf.dispose([xt, got, g, again]);
  teacher.dispose();
  t2.dispose();
});

test('a file at another geometry fails naming the key, both shapes and the conversion', async () => {
  const c = await cfg();
  await assert.rejects(loadDinov2Teacher(path.join(ROOT, 'weights.safetensors'), { ...opts(c), imageSize: 48 }), (e: Error) => {
    assert.match(e.message, /pos_embed \(model \[1, 10, 32\], file \[1, 5, 32\]\)/);
    assert.match(e.message, /img_size=48, patch_size=16/);
    return true;
  });
  assert.equal(tf.memory().numTensors, 0);
});

test('small teacher: [B, width], deterministic from its Rng, frozen, varies across images', async () => {
  const x = tf.tensor4d(randomValues(4 * 3 * 16 * 16, 1), [4, 3, 16, 16]);
  const a = smallTeacher(24, Rng.fromSeed(3), { imageSize: 16 });
  const b = smallTeacher(24, Rng.fromSeed(3), { imageSize: 16 });
  assert.equal(a.width, 24);
  assert.equal(a.trainableParameters().size, 0);
  await expectNoTensorLeak(() => {
    const fa = a.features(x);
    const fb = b.features(x);
    assert.deepEqual(fa.shape, [4, 24]);
    assert.deepEqual(fa.dataSync(), fb.dataSync());
    // distinct images give clearly distinct features (InfoNCE needs a non-constant target)
    const d = tf.tidy(() =>
      fa
        .slice([0, 0], [1, -1])
        .sub(fa.slice([1, 0], [1, -1]))
        .abs()
        .mean(),
    );
    assert.ok(d.dataSync()[0]! > 0.1, `feature difference ${d.dataSync()[0]}`);
    tf.dispose([fa, fb, d]);
  });
  tf.dispose(x);
  a.dispose();
  b.dispose();
});
