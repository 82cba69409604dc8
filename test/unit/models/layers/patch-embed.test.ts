import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { PatchEmbed } from '../../../../models/layers/patch-embed';
import { patchifyPqc, unpatchify } from '../../../../models/layers/unpatchify';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak } from '../../../helpers/tensors';
import { gradCheck, randn, randVar, setVar, useCpuBackend } from './gradcheck';

before(useCpuBackend);

test('PatchEmbed equals a stride-p conv2d with the PyTorch [D, C, p, p] weight', async () => {
  const pe = new PatchEmbed({ imgSize: 8, patchSize: 4, inChans: 3, embedDim: 5, rng: Rng.fromSeed(1) });
  assert.deepEqual(
    [...pe.parameters()].map(([k, v]) => `${k}:${v.shape.join('x')}`),
    ['proj.weight:5x3x4x4', 'proj.bias:5'],
  );
  setVar(pe.proj.bias!, [1, 2, 3, 4, 5]);
  assert.equal(pe.numPatches, 4);
  await expectNoTensorLeak(() => {
    const img = randn([2, 8, 8, 3], 2); // NHWC
    const tokens = pe.forward(img, 'channelsLast');
    assert.deepEqual(tokens.shape, [2, 4, 5]);
    const ref = tf.tidy(() => {
      const kernel = pe.proj.weight.transpose<tf.Tensor4D>([2, 3, 1, 0]); // [D, C, kh, kw] -> [kh, kw, C, D]
      return tf
        .conv2d(img as tf.Tensor4D, kernel, 4, 'valid')
        .add(pe.proj.bias!)
        .reshape([2, 4, 5]); // [B, gh, gw, D] -> [B, N, D] raster
    });
    expectClose(tokens.dataSync(), ref.dataSync(), 1e-5);
    const nchw = img.transpose([0, 3, 1, 2]); // [B, H, W, C] -> [B, C, H, W]
    const t2 = pe.forward(nchw, 'channelsFirst');
    expectClose(t2.dataSync(), tokens.dataSync(), 1e-6, 'channels-first input');
    tf.dispose([img, tokens, ref, nchw, t2]);
  });
  pe.dispose();
});

test('PatchEmbed rejects wrong channel counts and indivisible sizes', () => {
  const pe = new PatchEmbed({ imgSize: 8, patchSize: 4, inChans: 3, embedDim: 5, rng: Rng.fromSeed(1) });
  const [a, b] = [tf.zeros([1, 8, 8, 2]), tf.zeros([1, 6, 8, 3])];
  assert.throws(() => pe.forward(a), { code: 'TENSOR_SHAPE' });
  assert.throws(() => pe.forward(b), { code: 'TENSOR_SHAPE' });
  assert.throws(() => new PatchEmbed({ imgSize: 10, patchSize: 4, inChans: 3, embedDim: 5, rng: Rng.fromSeed(1) }), { code: 'CONFIG_INVALID' });
  tf.dispose([a, b]);
  pe.dispose();
});

test('PatchEmbed gradients match finite differences', async () => {
  await expectNoTensorLeak(() => {
    const pe = new PatchEmbed({ imgSize: 4, patchSize: 2, inChans: 2, embedDim: 3, rng: Rng.fromSeed(3) });
    const img = randVar([1, 2, 4, 4], 4);
    gradCheck(() => pe.forward(img, 'channelsFirst'), new Map([...pe.parameters(), ['img', img]]));
    img.dispose();
    pe.dispose();
  });
});

test('unpatchify: (py, px, c) channel-fastest layout, inverse of patchifyPqc, both formats', async () => {
  await expectNoTensorLeak(() => {
    // one token of a 2×2 patch with 3 channels: values 0..11 = (py, px, c) row-major
    const tok = tf.tidy(() => tf.range(0, 12).reshape([1, 1, 12]));
    const img = unpatchify(tok, { patchSize: 2, gridH: 1, gridW: 1, channels: 3 }); // [1, 2, 2, 3]
    assert.deepEqual(Array.from(img.dataSync()), [...Array(12).keys()]);
    const chw = unpatchify(tok, { patchSize: 2, gridH: 1, gridW: 1, channels: 3, format: 'channelsFirst' });
    assert.deepEqual(Array.from(chw.dataSync()), [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    const x = randn([2, 4, 6, 3], 5);
    const back = tf.tidy(() => unpatchify(patchifyPqc(x, 2), { patchSize: 2, gridH: 2, gridW: 3, channels: 3 }));
    expectClose(back.dataSync(), x.dataSync(), 1e-7);
    tf.dispose([tok, img, chw, x, back]);
  });
  const bad = tf.zeros([1, 3, 12]);
  assert.throws(() => unpatchify(bad, { patchSize: 2, gridH: 1, gridW: 1, channels: 3 }), { code: 'TENSOR_SHAPE' });
  bad.dispose();
});

test('unpatchify gradient is the inverse permutation', async () => {
  await expectNoTensorLeak(() => {
    const tok = randVar([1, 4, 8], 6);
    gradCheck(() => unpatchify(tok, { patchSize: 2, gridH: 2, gridW: 2, channels: 2 }), new Map([['tokens', tok]]));
    tok.dispose();
  });
});
