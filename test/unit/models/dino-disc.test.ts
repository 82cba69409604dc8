/**
 * DinoDisc against upstream discriminator_dino.py (fixture: test/parity/dino-disc/make_fixture.py).
 * Upstream hard-codes ViT-S at 224 px, so the weights are a closed-form function of name and index,
 * rebuilt here and written into one safetensors file (backbone + `heads.*`) that goes through
 * DinoDisc.load. Depth 3: readouts after the position embedding and after block 2 (two heads).
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
import { DinoDisc, dinoDiscInput } from '../../../models/dino-disc';
import { hingeDLoss } from '../../../models/training/gan-losses';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'parity', 'dino-disc');
let dir = '';
let weights = '';
let backboneOnly = '';
interface Cfg {
  depth: number;
  backbone: Record<string, number[]>;
  heads: Record<string, number[]>;
}
let cfg: Cfg;

/** The fixture's weight formula (see make_fixture.py). */
function formula(name: string, shape: readonly number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  let codes = 0;
  for (const ch of name) codes += ch.charCodeAt(0);
  const phase = 0.37 * name.length + 0.011 * codes;
  let f: (s: number) => number;
  if (name.endsWith('weight_u') || name.endsWith('weight_v')) f = (s) => s;
  else if (shape.length === 1 && name.endsWith('.weight')) f = (s) => 1 + 0.2 * s;
  else if (shape.length === 1) f = (s) => 0.1 * s;
  else if (name.endsWith('cls_token') || name.endsWith('pos_embed')) f = (s) => 0.5 * s;
  else {
    const amp = 1.5 / Math.sqrt(n / (shape[0] as number));
    f = (s) => amp * s;
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f(Math.sin(0.7311 * i + 0.001 * ((i * i) % 10007) + phase));
  return out;
}

/** The fixture's closed-form images: 0.6·sin(a·i + 0.2) + 0.3·sin(b·i) over the flat index. */
function closedForm(shape: [number, number, number, number], a: number, b: number): tf.Tensor4D {
  const n = shape.reduce((p, q) => p * q, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 0.6 * Math.sin(a * i + 0.2) + 0.3 * Math.sin(b * i);
  return tf.tensor4d(out, shape);
}

before(async () => {
  await initBackend({ backend: 'tensorflow', log: null });
  dir = await mkdtemp(path.join(os.tmpdir(), 'dino-disc-'));
  cfg = JSON.parse(await readFile(path.join(ROOT, 'config.json'), 'utf8')) as Cfg;
  const backbone = new Map(Object.entries(cfg.backbone).map(([k, s]) => [k, tf.tensor(formula(k, s), s)]));
  const heads = new Map(Object.entries(cfg.heads).map(([k, s]) => [k, tf.tensor(formula(k, s), s)]));
  backboneOnly = path.join(dir, 'backbone.safetensors');
  await saveStateDict(backboneOnly, backbone);
  weights = path.join(dir, 'backbone-and-heads.safetensors');
  await saveStateDict(weights, new Map([...backbone, ...heads]));
  tf.dispose([...backbone.values(), ...heads.values()]);
});
after(() => rm(dir, { recursive: true, force: true }));

const npy = async (n: string) => {
  const a = await readNpyFile(path.join(ROOT, `${n}.npy`));
  return tf.tensor(a.data, [...a.shape]);
};
const report = (what: string, got: tf.Tensor, want: tf.Tensor, tol: number) => {
  assert.deepEqual(got.shape, want.shape, what);
  const err = relativeError(got.dataSync(), want.dataSync());
  console.log(`DinoDisc parity ${what}: rel err ${err.toExponential(2)}`);
  assert.ok(err < tol, `${what}: relative error ${err}`);
};

test('upstream names: state dict = heads only (weight_orig/bias/weight_u/weight_v, BN-local), backbone frozen with zeroed key bias', async () => {
  const d = await DinoDisc.load(backboneOnly, Rng.fromSeed(1), { depth: cfg.depth });
  const shapes = Object.fromEntries([...d.stateDict()].map(([k, v]) => [k, v.shape]));
  assert.deepEqual(shapes, cfg.heads);
  assert.deepEqual([...d.trainableParameters().keys()], [...d.parameters().keys()]);
  assert.ok([...d.trainableParameters().keys()].every((k) => k.startsWith('heads.') && !k.endsWith('_u') && !k.endsWith('_v')));
  assert.equal(d.backbone.trainableParameters().size, 0);
  const bias = d.backbone.blocks.items[1]!.attn.qkv.bias!.dataSync();
  assert.ok(bias.slice(384, 768).every((v) => v === 0) && bias.slice(0, 384).some((v) => v !== 0));
  // heads come from the Rng when the file has none: same seed, same heads
  const e = await DinoDisc.load(backboneOnly, Rng.fromSeed(1), { depth: cfg.depth });
  for (const [k, v] of d.stateDict()) assert.deepEqual(e.stateDict().get(k)!.dataSync(), v.dataSync(), k);
  d.dispose();
  e.dispose();
});

test('training-mode forward, power iteration, gradients and eval forward equal upstream', async () => {
  const d = await DinoDisc.load(weights, Rng.fromSeed(1), { depth: cfg.depth });
  const x = closedForm([2, 3, 224, 224], 0.37, 1.713);
  const [probe, wantTrain, wantEval, wantGx, wantGw, wantU, wantV] = await Promise.all<tf.Tensor>(
    ['probe', 'logits_train', 'logits_eval', 'grad_x', 'grad_conv_weight', 'conv_u', 'conv_v'].map(npy),
  );
  const conv = d.stateDict();
  const w = conv.get('heads.0.1.fn.0.weight_orig')!;
  const xv = tf.variable(x);
  const rng = Rng.fromSeed(0); // 224 px: no crop, nothing drawn
  await expectNoTensorLeak(() => {
    let logits: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const l = d.forward(xv, { training: true, rng });
      logits = tf.keep(l.clone());
      return l.mul(probe!).sum<tf.Scalar>();
    }, [xv, w]);
    report('logits (train)', logits!, wantTrain!, 2e-5);
    report('weight_u after one power iteration', conv.get('heads.0.1.fn.0.weight_u')!, wantU!, 2e-5);
    report('weight_v after one power iteration', conv.get('heads.0.1.fn.0.weight_v')!, wantV!, 2e-5);
    const gx = tf.tidy(() => grads[xv.name]!.stridedSlice([0, 0, 0, 0], [2, 3, 224, 224], [1, 1, 8, 8])); // every 8th pixel, as stored
    report('dL/dx', gx, wantGx!, 2e-5);
    const gw = tf.tidy(() => grads[w.name]!.slice([0, 0, 0], [4, -1, -1]));
    report('dL/d heads.0.1.fn.0.weight_orig', gw, wantGw!, 2e-5);
    const ev = d.forward(x, { training: false, rng });
    report('logits (eval)', ev, wantEval!, 2e-5);
    tf.dispose([value, ...Object.values(grads), logits!, gx, gw, ev]);
  });
  assert.equal(rng.getState().counter, 0);
  tf.dispose([xv, x, probe!, wantTrain!, wantEval!, wantGx!, wantGw!, wantU!, wantV!]);
  d.dispose();
});

test('32 px (bicubic upsizing) readouts equal upstream', async () => {
  const d = await DinoDisc.load(backboneOnly, Rng.fromSeed(1), { depth: cfg.depth });
  const [x, want0, want1] = (await Promise.all(['x32', 'readout0_32', 'readout1_32'].map(npy))) as [tf.Tensor, tf.Tensor, tf.Tensor];
  await expectNoTensorLeak(() => {
    const got = tf.tidy(() => d.backbone.readouts(dinoDiscInput(x, 224, Rng.fromSeed(0))).map((r) => r.transpose([0, 2, 1]).slice([0, 0, 0], [-1, 8, -1]))); // [B, N, D] -> [B, 8, N]
    report('readout 0 at 32 px (bicubic)', got[0]!, want0, 2e-5);
    report('readout 1 at 32 px (bicubic)', got[1]!, want1, 2e-5);
    tf.dispose(got);
  });
  tf.dispose([x, want0, want1]);
  d.dispose();
});

test('256 px without crop: area downsizing to 224 and the first readout equal upstream', async () => {
  const d = await DinoDisc.load(backboneOnly, Rng.fromSeed(1), { depth: cfg.depth });
  const x = closedForm([2, 3, 256, 256], 0.29, 2.113);
  let seed = 0;
  while (Rng.fromSeed(seed).uniform() <= 0.5) seed++;
  const want = await npy('readout0_256');
  await expectNoTensorLeak(() => {
    const got = tf.tidy(() => {
      const inp = dinoDiscInput(x, 224, Rng.fromSeed(seed));
      return d.backbone.readouts(inp)[0]!.transpose([0, 2, 1]).slice([0, 0, 0], [-1, 8, -1]); // [B, N, D] -> [B, 8, N]
    });
    report('readout 0 at 256 px (area)', got, want, 2e-5);
    got.dispose();
  });
  // the other side of the coin: one random 224 crop for the whole batch, drawn from the Rng
  let cropSeed = 0;
  while (Rng.fromSeed(cropSeed).uniform() > 0.5) cropSeed++;
  const r = Rng.fromSeed(cropSeed);
  const c = dinoDiscInput(x, 224, r);
  assert.deepEqual(c.shape, [2, 3, 224, 224]);
  assert.equal(r.getState().offset, 3); // coin + two offsets
  const again = dinoDiscInput(x, 224, Rng.fromSeed(cropSeed));
  assert.deepEqual(again.dataSync(), c.dataSync());
  tf.dispose([x, want, c, again]);
  d.dispose();
});

test('BatchNormLocal needs equal virtual batches; a backbone file of the wrong width is a clear error', async () => {
  const d = new DinoDisc(Rng.fromSeed(2), { imgSize: 16, patchSize: 8, width: 16, numHeads: 2, depth: cfg.depth });
  const x = tf.zeros([9, 3, 16, 16]);
  assert.throws(() => d.forward(x, { training: false, rng: Rng.fromSeed(0) }), /batch 9 does not split/);
  x.dispose();
  d.dispose();
  await assert.rejects(
    DinoDisc.load(backboneOnly, Rng.fromSeed(1), { depth: cfg.depth, width: 192, numHeads: 3 }),
    /cls_token \(model \[1, 1, 192\], file \[1, 1, 384\]\)[\s\S]*dino_deitsmall16_pretrain/,
  );
});

/** A tiny random-backbone DinoDisc (img 16, width 16): the heads learn real vs fake on both backends. */
async function headsTrain(backend: string): Promise<void> {
  await initBackend({ backend, log: null });
  const d = new DinoDisc(Rng.fromSeed(7), { imgSize: 16, patchSize: 8, width: 16, numHeads: 2, depth: 3, kernelSize: 3 });
  // a non-zero backbone (placeholder zeros would give constant readouts)
  const r = Rng.fromSeed(8);
  for (const v of d.backbone.parameters().values()) v.assign(tf.tensor(r.fillNormal(new Float32Array(v.size), 0, 0.3), v.shape));
  const B = 8;
  const real = tf.tidy(() =>
    tf
      .linspace(-0.8, 0.8, 16)
      .reshape([1, 1, 1, 16])
      .tile([B, 3, 16, 1])
      .mul(tf.linspace(0.2, 1, B).reshape([B, 1, 1, 1])),
  );
  const fake = tf.tensor4d(r.fillUniform(new Float32Array(B * 3 * 16 * 16), -0.8, 0.8), [B, 3, 16, 16]);
  const vars = [...d.trainableParameters().values()];
  const opt = tf.train.adam(1e-2, 0.5, 0.9);
  const rng = Rng.fromSeed(9);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => hingeDLoss(d.forward(real, { training: true, rng }), d.forward(fake, { training: true, rng })), vars);
    assert.ok(Object.values(grads).every((g) => g.dataSync().every(Number.isFinite)));
    opt.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
    tf.dispose(grads);
    const v = value.dataSync()[0]!;
    value.dispose();
    return v;
  };
  const first = step();
  const losses = await expectNoTensorLeak(() => Array.from({ length: 8 }, step), { label: `${backend} DinoDisc steps` });
  const last = losses.slice(-3).reduce((a, b) => a + b, 0) / 3;
  console.log(`${backend}: ${[first, ...losses].map((v) => v.toFixed(3)).join(' ')}`);
  assert.ok(last < 0.85 * first, `${backend}: hinge D loss ${first} → ${last}`);
  tf.dispose([real, fake]);
  opt.dispose();
  d.dispose();
}

test('heads train on the native TensorFlow backend (tiny backbone)', () => headsTrain('tensorflow'));
test('heads train on wasm (tiny backbone)', () => headsTrain('wasm'));
