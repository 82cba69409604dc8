/**
 * The RobusTok tokenizer against upstream PyTorch (`VQModel` of tokenizer/tokenizer_image/xqgan_model.py)
 * with the same random weights. Fixtures come from test/parity/robustok-tokenizer/make_fixture.py (see
 * test/parity/README.md); this test reads them only. Two cases: image 32 / patch 8 (upstream's lvl1LC
 * buffer replaced by the intended layout, which upstream cannot run otherwise) and image 16 / patch 4
 * (upstream unmodified). The weight files are raw upstream state dicts: int64 lvl1LC buffers, the
 * usage statistic and a `semantic_model.*` entry must be skipped by the loader.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { stringify as toYaml } from 'yaml';
import { modelForwardCommand } from '../../../cli/commands/model-forward';
import { initBackend } from '../../../compute/backend';
import { readNpyFile, type NpyArray } from '../../../data/npy';
import { nearestCodes } from '../../../models/latent-perturbation';
import { l2Normalize } from '../../../models/layers/vector-quantizer';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { isUpstreamOnlyKey, loadTokenizerWeights } from '../../../models/tokenizer-artifact';
import { parseTokenizerConfig } from '../../../models/tokenizer-config';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, relativeError } from '../../helpers/tensors';

const ROOT = path.join(__dirname, '..', '..', 'fixtures', 'parity', 'robustok-tokenizer');
const CASES = ['p8-32', 'p4-16'];
const TOL = 1e-5; // max |Δ| / max |ref|; float32 round-off through two small ViTs is ~1e-7

interface Fixture {
  config: Record<string, unknown>;
  delta: number;
  grad_params: string[];
}

let dir = '';
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'robustok-tokenizer-parity-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const npy = (c: string, name: string) => readNpyFile(path.join(ROOT, c, `${name}.npy`));
const floats = (a: NpyArray) => tf.tensor(Float32Array.from(a.data as ArrayLike<number>), [...a.shape]);
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
};

async function load(c: string): Promise<{ model: RobustokTokenizer; fx: Fixture }> {
  const fx = JSON.parse(await readFile(path.join(ROOT, c, 'config.json'), 'utf8')) as Fixture;
  const model = new RobustokTokenizer(parseTokenizerConfig(fx.config), Rng.fromSeed(0));
  const report = await loadTokenizerWeights(model, path.join(ROOT, c, 'weights.safetensors'));
  assert.equal(report.loaded.length, model.stateDict().size, 'every model tensor comes from the upstream file');
  return { model, fx };
}

for (const c of CASES) {
  test(`${c}: latents, codes, quant, recon and VQ losses equal upstream within float32 noise`, async (t) => {
    const { model, fx } = await load(c);
    const images = floats(await npy(c, 'images'));
    const ref = {
      latents: await npy(c, 'latents'),
      quant: await npy(c, 'quant'),
      recon: await npy(c, 'recon'),
      codes: await npy(c, 'codes'),
      nearest: await npy(c, 'nearest'),
      losses: await npy(c, 'losses'),
    };
    await expectNoTensorLeak(() => {
      const out = model.forward(images);
      const diffs: Record<string, number> = {};
      for (const k of ['latents', 'quant', 'recon'] as const) {
        const got = out[k].dataSync();
        assert.deepEqual(out[k].shape, ref[k].shape, k);
        const rel = relativeError(got, ref[k].data);
        diffs[k] = maxAbs(got, ref[k].data);
        assert.ok(rel < TOL, `${c} ${k}: relative error ${rel.toExponential(2)}`);
      }
      assert.deepEqual(Array.from(out.codes.dataSync()), Array.from(ref.codes.data as ArrayLike<number>), `${c}: codes`);
      const losses = [out.codebookLoss.dataSync()[0] as number, out.commitLoss.dataSync()[0] as number];
      for (const [i, name] of ['codebookLoss', 'commitLoss'].entries()) {
        const want = ref.losses.data[i] as number;
        assert.ok(Math.abs((losses[i] as number) - want) <= 1e-5 * Math.abs(want) + 1e-8, `${c} ${name}: ${losses[i]} vs ${want}`);
      }
      // the δ nearest codes as latent_perturbation.py ranks them (rank 0 = the code itself)
      const D = model.config.codebook_embed_dim;
      const near = tf.tidy(() =>
        nearestCodes(l2Normalize(out.latents.transpose([0, 2, 3, 1]).reshape([-1, D])), model.quantize.normalizedCodebook(), fx.delta),
      );
      assert.deepEqual(Array.from(near.dataSync()), Array.from(ref.nearest.data as ArrayLike<number>), `${c}: nearest codes`);
      t.diagnostic(`${c} max |Δ|: latents ${diffs.latents?.toExponential(2)}, quant ${diffs.quant?.toExponential(2)}, recon ${diffs.recon?.toExponential(2)}`);
      tf.dispose([out.recon, out.codes, out.latents, out.quant, out.codebookLoss, out.commitLoss, near]);
    });
    images.dispose();
    model.dispose();
  });

  test(`${c}: gradients through the straight-through estimator equal upstream's`, async (t) => {
    const { model, fx } = await load(c);
    const images = floats(await npy(c, 'images'));
    const sd = model.stateDict();
    const vars = fx.grad_params.map((n) => sd.get(n) as tf.Variable);
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward(images);
      return out.recon.square().mean().add(out.codebookLoss).add<tf.Scalar>(out.commitLoss);
    }, vars);
    const losses = await npy(c, 'losses');
    assert.ok(Math.abs((value.dataSync()[0] as number) - (losses.data[2] as number)) < 1e-5 * Math.abs(losses.data[2] as number), 'loss');
    const worst: string[] = [];
    for (const n of fx.grad_params) {
      const ref = await npy(c, `grad.${n}`);
      const got = grads[(sd.get(n) as tf.Variable).name]; // variableGrads keys by the tfjs variable name
      assert.ok(got, `gradient of ${n}`);
      const rel = relativeError(got.dataSync(), ref.data);
      worst.push(`${n} ${rel.toExponential(1)}`);
      assert.ok(rel < 1e-4, `${c} grad ${n}: relative error ${rel.toExponential(2)}`);
    }
    t.diagnostic(`${c} gradient relative errors: ${worst.join(', ')}`);
    tf.dispose([value, ...Object.values(grads), images]);
    model.dispose();
  });
}

test('model forward CLI: images.npy → codes/latents/recon.npy; codes.npy → the same recon', async () => {
  const c = 'p8-32';
  const fx = JSON.parse(await readFile(path.join(ROOT, c, 'config.json'), 'utf8')) as Fixture;
  const configFile = path.join(dir, 'tok.yaml');
  await writeFile(configFile, toYaml(fx.config)); // --config takes YAML as well as JSON
  const weights = path.join(ROOT, c, 'weights.safetensors');
  const quiet = async (fn: () => Promise<number>) => {
    const [log, err] = [console.log, console.error];
    console.log = () => undefined;
    console.error = () => undefined;
    try {
      return await fn();
    } finally {
      console.log = log;
      console.error = err;
    }
  };
  const out1 = path.join(dir, 'enc');
  assert.equal(
    await quiet(() =>
      modelForwardCommand({ arch: 'robustok-tokenizer', config: configFile, weights, input: [path.join(ROOT, c, 'images.npy')], out: out1, backend: 'cpu' }),
    ),
    0,
  );
  const codes = await readNpyFile(path.join(out1, 'codes.npy'));
  assert.equal(codes.dtype, 'i4');
  assert.deepEqual(Array.from(codes.data as ArrayLike<number>), Array.from((await npy(c, 'codes')).data as ArrayLike<number>));
  const recon = await readNpyFile(path.join(out1, 'recon.npy'));
  assert.ok(relativeError(recon.data, (await npy(c, 'recon')).data) < TOL);
  assert.deepEqual((await readNpyFile(path.join(out1, 'latents.npy'))).shape, [3, 8, 4, 4]);

  const out2 = path.join(dir, 'dec');
  assert.equal(
    await quiet(() =>
      modelForwardCommand({ arch: 'robustok-tokenizer', config: configFile, weights, input: [path.join(out1, 'codes.npy')], out: out2, backend: 'cpu' }),
    ),
    0,
  );
  const decoded = await readNpyFile(path.join(out2, 'recon.npy'));
  assert.deepEqual(decoded.shape, recon.shape);
  assert.equal(maxAbs(decoded.data, recon.data), 0, 'ids → image reproduces the forward reconstruction exactly');
});

test('wasm backend: p4-16 forward equals upstream too (tfjs-wasm OneHot float32 regression)', async () => {
  await initBackend({ backend: 'wasm', log: null });
  try {
    const c = 'p4-16';
    const { model } = await load(c);
    const images = floats(await npy(c, 'images'));
    const out = model.forward(images);
    assert.ok(relativeError(out.quant.dataSync(), (await npy(c, 'quant')).data) < TOL, 'quant');
    assert.ok(relativeError(out.recon.dataSync(), (await npy(c, 'recon')).data) < TOL, 'recon');
    assert.deepEqual(Array.from(out.codes.dataSync()), Array.from((await npy(c, 'codes')).data as ArrayLike<number>));
    const again = model.decodeCodes(out.codes);
    assert.equal(maxAbs(again.dataSync(), out.recon.dataSync()), 0);
    tf.dispose([out.recon, out.codes, out.latents, out.quant, out.codebookLoss, out.commitLoss, again, images]);
    model.dispose();
  } finally {
    await tf.setBackend('cpu');
  }
});

/** Skips the (slow, pure-JS) random init: only names and shapes matter here. */
class ZeroInitRng extends Rng {
  constructor() {
    super(Rng.fromSeed(0).getState());
  }
  override fillNormal(out: Float32Array): Float32Array {
    return out;
  }
  override fillTruncNormal(out: Float32Array): Float32Array {
    return out;
  }
  override fillUniform(out: Float32Array): Float32Array {
    return out;
  }
}

test('paper size: our state dict has exactly the names and shapes of upstream main-train.pt (minus skipped buffers and teacher)', async () => {
  // upstream's layout at ViT-B/16, 256 px, codebook 4096×64 (written by make_fixture.py without weights);
  // our model is built with depth 1 to stay cheap, and blocks.i of upstream is compared with our blocks.0
  const layout = JSON.parse(await readFile(path.join(ROOT, 'paper-state-dict.json'), 'utf8')) as Record<string, [string, number[]]>;
  const m = new RobustokTokenizer(parseTokenizerConfig({ depth: 1 }), new ZeroInitRng());
  const ours = new Map([...m.stateDict()].map(([k, v]) => [k, v.shape]));
  const seen = new Set<string>();
  const skipped: string[] = [];
  for (const [name, [dtype, shape]] of Object.entries(layout)) {
    if (isUpstreamOnlyKey(name)) {
      skipped.push(name);
      continue;
    }
    const block = name.match(/^(encoder|decoder)\.model\.blocks\.(\d+)\.(.*)$/);
    const mine = block ? `${block[1]}.model.blocks.0.${block[3]}` : name;
    assert.ok(Number(block?.[2] ?? 0) < 12, name);
    assert.equal(dtype, 'float32', name);
    assert.deepEqual(ours.get(mine), shape, `${name}: upstream [${shape.join(', ')}], ours ${JSON.stringify(ours.get(mine))}`);
    seen.add(mine);
  }
  assert.deepEqual(
    [...ours.keys()].filter((k) => !seen.has(k)),
    [],
    'every model tensor exists upstream',
  );
  assert.ok(skipped.includes('encoder.lvl1LC') && skipped.includes('decoder.lvl1LC') && skipped.includes('quantize.ema_vocab_hit_SV'));
  assert.ok(skipped.filter((k) => k.startsWith('semantic_model.')).length > 100, 'the DINOv2 teacher is skipped');
  assert.deepEqual(layout['encoder.lvl1LC'], ['int64', [1, 16 * 16 + 1 + 256]]);
  m.dispose();
});
