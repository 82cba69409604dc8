/**
 * LPIPS-VGG16 against upstream tokenizer/tokenizer_image/lpips.py. The weights are a closed-form
 * function of name and index, built identically here and in test/parity/lpips/make_fixture.py (full
 * random VGG16 weights would be a 58 MB fixture); the fixture holds inputs, distances and dL/dx.
 * The weights go through a safetensors file and Lpips.load, in both accepted naming schemes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../../compute/backend';
import { saveStateDict } from '../../../compute/checkpoint';
import { readNpyFile } from '../../../data/npy';
import { Lpips } from '../../../models/lpips';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'parity', 'lpips');
let dir = '';
let upstreamFile = '';

/** The fixture's weight formula (see make_fixture.py). */
function formula(name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let codes = 0;
  for (const ch of name) codes += ch.charCodeAt(0);
  const phase = 0.37 * name.length + 0.011 * codes;
  const out = new Float32Array(n);
  const amp = name.startsWith('lin') ? 0 : name.endsWith('.bias') ? 0.05 : 2 / Math.sqrt(n / (shape[0] as number));
  for (let i = 0; i < n; i++) {
    const s = Math.sin(0.7311 * i + 0.001 * ((i * i) % 10007) + phase);
    out[i] = name.startsWith('lin') ? 0.1 * (1.5 + s) : amp * s;
  }
  return out;
}

before(async () => {
  await initBackend({ backend: 'tensorflow', log: null });
  dir = await mkdtemp(path.join(os.tmpdir(), 'lpips-'));
  const names = (JSON.parse(await readFile(path.join(ROOT, 'config.json'), 'utf8')) as { names: string[] }).names;
  const shapes = new Lpips().stateDict();
  const tensors = new Map<string, tf.Tensor>();
  for (const n of names) {
    const v = shapes.get(n);
    assert.ok(v, `upstream parameter ${n} has no counterpart`);
    tensors.set(n, tf.tensor(formula(n, v.shape), v.shape));
  }
  assert.equal(names.length, shapes.size);
  for (const v of shapes.values()) v.dispose();
  upstreamFile = path.join(dir, 'lpips-upstream-names.safetensors');
  await saveStateDict(upstreamFile, tensors);
  // the other accepted scheme: torchvision VGG16 names, lin layers without the dropout slot, extra keys
  const renamed = new Map<string, tf.Tensor>([...tensors].map(([k, v]) => [k.replace(/^net\.slice\d\./, 'features.').replace('.model.1.', '.model.0.'), v]));
  renamed.set('classifier.0.bias', tf.zeros([4]));
  renamed.set('scaling_layer.shift', tf.zeros([1, 3, 1, 1]));
  await saveStateDict(path.join(dir, 'lpips-torchvision-names.safetensors'), renamed);
  tf.dispose([...renamed.values(), ...tensors.values()]);
});
after(() => rm(dir, { recursive: true, force: true }));

const npy = async (n: string) => {
  const a = await readNpyFile(path.join(ROOT, `${n}.npy`));
  return tf.tensor(a.data, [...a.shape]);
};

test('distances and the gradient to the reconstruction equal upstream LPIPS (eval)', async () => {
  const lp = await Lpips.load(upstreamFile);
  assert.equal(lp.trainableParameters().size, 0);
  const [x, y, want, wantGrad] = (await Promise.all(['x', 'y', 'dist', 'grad_x'].map(npy))) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  await expectNoTensorLeak(() => {
    const d = lp.forward(x, y);
    assert.deepEqual(d.shape, [2]);
    const err = relativeError(d.dataSync(), want.dataSync());
    const g = tf.grad((xx: tf.Tensor) => lp.forward(xx, y).sum())(x);
    const gErr = relativeError(g.dataSync(), wantGrad.dataSync());
    console.log(
      `LPIPS parity: distance rel err ${err.toExponential(2)}, dL/dx rel err ${gErr.toExponential(2)} (values ${Array.from(d.dataSync())
        .map((v) => v.toFixed(6))
        .join(', ')})`,
    );
    assert.ok(err < 2e-5, `distance relative error ${err}`);
    assert.ok(gErr < 1e-4, `gradient relative error ${gErr}`);
    tf.dispose([d, g]);
  });
  tf.dispose([x, y, want, wantGrad]);
  lp.dispose();
});

test('torchvision VGG16 names + lin without dropout slot load to the same model; d(x, x) = 0', async () => {
  const a = await Lpips.load(upstreamFile);
  const b = await Lpips.load(path.join(dir, 'lpips-torchvision-names.safetensors'));
  for (const [k, v] of a.stateDict()) assert.deepEqual(b.stateDict().get(k)!.dataSync(), v.dataSync(), k);
  const x = await npy('x');
  const d = a.forward(x, x);
  assert.ok(d.dataSync().every((v) => Math.abs(v) < 1e-9));
  tf.dispose([x, d]);
  a.dispose();
  b.dispose();
});

test('dropout option: needs an Rng, deterministic from it, changes the value', async () => {
  const lp = await Lpips.load(upstreamFile, { dropout: true });
  const plain = await Lpips.load(upstreamFile);
  const [x, y] = await Promise.all([npy('x'), npy('y')]);
  assert.throws(() => lp.forward(x, y), /needs an Rng/);
  await expectNoTensorLeak(() => {
    const a = lp.forward(x, y, { rng: Rng.fromSeed(4) });
    const b = lp.forward(x, y, { rng: Rng.fromSeed(4) });
    const c = plain.forward(x, y);
    assert.deepEqual(a.dataSync(), b.dataSync());
    assert.notDeepEqual(a.dataSync(), c.dataSync());
    tf.dispose([a, b, c]);
  });
  tf.dispose([x, y]);
  lp.dispose();
  plain.dispose();
});

test('a file missing the lin layers fails naming the keys and the conversion', async () => {
  const partial = path.join(dir, 'vgg-only.safetensors');
  const m = new Lpips();
  await saveStateDict(partial, new Map([...m.stateDict()].filter(([k]) => !k.startsWith('lin'))));
  m.dispose();
  await assert.rejects(Lpips.load(partial), /missing 5 key\(s\) the model needs: lin0\.model\.1\.weight[\s\S]*README "Loss networks"/);
});
