/**
 * RobusTok tokenizer behaviour beyond parity: ids → image reproduces the forward reconstruction bit for
 * bit, latent perturbation statistics and determinism, the per-epoch schedule, straight-through
 * gradients, drop-path, config validation, weight loading errors and the artifact round trip.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveStateDict } from '../../../compute/checkpoint';
import { nearestCodes, perturbationSchedule, perturbedCount, samplePerturbedCodes } from '../../../models/latent-perturbation';
import { l2Normalize } from '../../../models/layers/vector-quantizer';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { loadTokenizerArtifact, loadTokenizerWeights, saveTokenizerArtifact } from '../../../models/tokenizer-artifact';
import { parseTokenizerConfig, tokenizerConfigSchema } from '../../../models/tokenizer-config';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak, randomValues } from '../../helpers/tensors';

const SMALL = {
  image_size: 16,
  patch_size: 4,
  width: 32,
  depth: 2,
  num_heads: 2,
  codebook_size: 32,
  codebook_embed_dim: 8,
  num_latent_tokens: 16,
  drop_path_rate: 0.2,
};

let dir = '';
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'robustok-tokenizer-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const build = (seed = 1, over: Record<string, unknown> = {}) => new RobustokTokenizer(parseTokenizerConfig({ ...SMALL, ...over }), Rng.fromSeed(seed));
const images = (B: number, seed = 5) => tf.tensor(randomValues(B * 3 * 16 * 16, seed), [B, 3, 16, 16]);
const disposeOut = (o: ReturnType<RobustokTokenizer['forward']>) =>
  tf.dispose([o.recon, o.codes, o.latents, o.quant, o.codebookLoss, o.commitLoss, ...(o.replaced ? [o.replaced] : [])]);

test('defaults are the paper sizes; inconsistent configs are CONFIG_INVALID naming the key', () => {
  const d = tokenizerConfigSchema.parse({});
  assert.deepEqual(
    [
      d.image_size,
      d.patch_size,
      d.width,
      d.depth,
      d.num_heads,
      d.codebook_size,
      d.codebook_embed_dim,
      d.num_latent_tokens,
      d.commit_loss_beta,
      d.drop_path_rate,
      d.layer_scale_init,
    ],
    [256, 16, 768, 12, 12, 4096, 64, 256, 0.25, 0.1, 1e-5],
  );
  assert.throws(
    () => parseTokenizerConfig({ ...SMALL, num_latent_tokens: 32 }),
    (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /num_latent_tokens: .*must equal the patch grid \(16\/4\)² = 16/.test(e.message),
  );
  assert.throws(
    () => parseTokenizerConfig({ ...SMALL, patch_size: 5 }),
    (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /patch_size: image_size 16 is not a multiple/.test(e.message),
  );
  assert.throws(() => parseTokenizerConfig({ ...SMALL, num_heads: 3 }), { code: 'CONFIG_INVALID' });
  assert.throws(() => parseTokenizerConfig({ ...SMALL, codebook_l2_norm: false }), { code: 'CONFIG_INVALID' });
  assert.throws(
    () => parseTokenizerConfig({ ...SMALL, widht: 3 }),
    (e: Error) => /widht/.test(e.message),
  );
});

test('decodeCodes(ids) equals the forward reconstruction exactly; encodeCodes equals forward codes; no leaks', async () => {
  const m = build();
  const x = images(3);
  await expectNoTensorLeak(() => {
    const out = m.forward(x);
    const codes = m.encodeCodes(x);
    assert.deepEqual(Array.from(codes.dataSync()), Array.from(out.codes.dataSync()));
    assert.equal(codes.dtype, 'int32');
    const recon = m.decodeCodes(codes);
    assert.deepEqual(Array.from(recon.dataSync()), Array.from(out.recon.dataSync()));
    const again = tf.tidy(() => m.decode(m.codebookEntry(codes)));
    assert.deepEqual(Array.from(again.dataSync()), Array.from(out.recon.dataSync()));
    tf.dispose([codes, recon, again]);
    disposeOut(out);
  });
  const bad = tf.tensor2d([[0, 99, ...Array<number>(14).fill(0)]], [1, 16], 'int32');
  assert.throws(() => m.decodeCodes(bad), { code: 'TENSOR_SHAPE' });
  tf.dispose([x, bad]);
  m.dispose();
});

test('perturbation: replacement rate ≈ α(1 − 1/δ) per perturbed token (fixed seed)', () => {
  const M = 3000;
  const zn = tf.tidy(() => l2Normalize(tf.tensor(randomValues(M * 8, 11), [M, 8])));
  const cb = tf.tidy(() => l2Normalize(tf.tensor(randomValues(64 * 8, 12), [64, 8])));
  const clean = tf.tidy(() => nearestCodes(zn, cb, 1).reshape([M]));
  const cleanIds = clean.dataSync();
  for (const [alpha, delta] of [
    [1, 8],
    [0.5, 4],
    [0.3, 16],
  ] as const) {
    const idsT = samplePerturbedCodes(zn, cb, { alpha, delta }, Rng.fromSeed(7));
    const ids = idsT.dataSync();
    idsT.dispose();
    const rate = ids.filter((v, i) => v !== cleanIds[i]).length / M;
    const want = alpha * (1 - 1 / delta);
    const sd = Math.sqrt((want * (1 - want)) / M);
    assert.ok(Math.abs(rate - want) < 4 * sd, `α ${alpha}, δ ${delta}: rate ${rate.toFixed(4)} vs ${want.toFixed(4)} ± ${(4 * sd).toFixed(4)}`);
  }
  // α = 0: rank 0 always, i.e. the clean code
  const zeroAlpha = samplePerturbedCodes(zn, cb, { alpha: 0, delta: 8 }, Rng.fromSeed(1));
  assert.deepEqual(Array.from(zeroAlpha.dataSync()), Array.from(cleanIds));
  zeroAlpha.dispose();
  tf.dispose([zn, cb, clean]);
});

test('perturbation in forward: only the first ⌊β·B⌋ samples change, clean losses/codes unchanged, reproducible from the rng state', async () => {
  const m = build(2);
  const B = 6;
  const x = images(B, 9);
  const p = { alpha: 1, beta: 0.5, delta: 8 };
  assert.equal(perturbedCount(B, p.beta), 3);
  assert.equal(perturbedCount(128, 0.1), 12);
  await expectNoTensorLeak(() => {
    const clean = m.forward(x);
    const rng = Rng.fromSeed(42);
    const state = rng.getState();
    const pert = m.forward(x, { perturbation: p, rng });
    const again = m.forward(x, { perturbation: p, rng: new Rng(state) });
    assert.deepEqual(Array.from(pert.codes.dataSync()), Array.from(clean.codes.dataSync()), 'codes are the clean assignment');
    assert.equal(pert.codebookLoss.dataSync()[0], clean.codebookLoss.dataSync()[0]);
    assert.equal(pert.commitLoss.dataSync()[0], clean.commitLoss.dataSync()[0]);
    const replaced = pert.replaced?.dataSync()[0] as number;
    assert.ok(replaced > 0 && replaced <= 3 * 16, `replaced ${replaced}`);
    assert.equal(again.replaced?.dataSync()[0], replaced);
    assert.deepEqual(Array.from(again.quant.dataSync()), Array.from(pert.quant.dataSync()), 'same rng state → same perturbation');
    // per sample: how many tokens differ from the clean quantised latent
    const per = tf.tidy(() => pert.quant.sub(clean.quant).abs().max(1).greater(0).sum([1, 2]).dataSync());
    assert.deepEqual(Array.from(per.slice(3)), [0, 0, 0], 'samples past ⌊β·B⌋ keep the clean codes');
    assert.equal(
      Array.from(per.slice(0, 3)).reduce((a, b) => a + b, 0),
      replaced,
    );
    const rest = tf.tidy(
      () =>
        pert.recon
          .slice([3, 0, 0, 0], [3, 3, 16, 16])
          .sub(clean.recon.slice([3, 0, 0, 0], [3, 3, 16, 16]))
          .abs()
          .max()
          .dataSync()[0],
    );
    assert.ok((rest as number) < 1e-5, 'unperturbed samples reconstruct as before');
    for (const o of [clean, pert, again]) disposeOut(o);
  });
  assert.throws(
    () => m.forward(x, { perturbation: { alpha: 1, beta: 0.5, delta: 33 }, rng: Rng.fromSeed(1) }),
    (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /exceeds codebook_size 32/.test(e.message),
  );
  x.dispose();
  m.dispose();
});

test('perturbation in forward: replacement rate ≈ α(1 − 1/δ) on the β subset, 0 elsewhere (fixed seed, repeated batches)', async () => {
  const m = build(8, { width: 16, depth: 1 });
  const B = 8;
  const p = { alpha: 0.6, beta: 0.5, delta: 4 };
  const rng = Rng.fromSeed(2024);
  let replaced = 0;
  let tokens = 0;
  await expectNoTensorLeak(() => {
    for (let run = 0; run < 6; run++) {
      const x = images(B, 100 + run);
      const pert = m.forward(x, { perturbation: p, rng });
      const clean = m.codebookEntry(pert.codes); // the clean quantised latents
      const per = tf.tidy(() => pert.quant.sub(clean).abs().max(1).greater(0).sum([1, 2]).dataSync());
      assert.deepEqual(Array.from(per.slice(4)), [0, 0, 0, 0], `run ${run}: samples past ⌊β·B⌋ = 4 are untouched`);
      replaced += pert.replaced?.dataSync()[0] as number;
      tokens += 4 * m.numTokens;
      disposeOut(pert);
      tf.dispose([clean, x]);
    }
  });
  const rate = replaced / tokens;
  const want = p.alpha * (1 - 1 / p.delta);
  const sd = Math.sqrt((want * (1 - want)) / tokens);
  assert.ok(Math.abs(rate - want) < 4 * sd, `rate ${rate.toFixed(3)} vs ${want} ± ${(4 * sd).toFixed(3)} over ${tokens} tokens`);
  m.dispose();
});

test('perturbation schedule: α 1 → 0.5, δ 100 → 50 between epochs 40 and 120 (integer δ)', () => {
  const cfg = { anneal_start: 40, anneal_end: 120, end_ratio: 0.5, alpha: 1, delta: 100 };
  const got = [0, 40, 80, 120, 200].map((e) => perturbationSchedule(e, cfg));
  assert.deepEqual(
    got.map((s) => s.alpha),
    [1, 1, 0.75, 0.5, 0.5],
  );
  assert.deepEqual(
    got.map((s) => s.delta),
    [100, 100, 75, 50, 50],
  );
  assert.equal(perturbationSchedule(41, cfg).delta, 99); // trunc(99.375)
  assert.equal(perturbationSchedule(57, { ...cfg, delta: 7 }).delta, 6); // trunc(0.89375·7 = 6.256)
  // post-train (start = end = 100): a step, not upstream's division by zero
  assert.deepEqual(perturbationSchedule(100, { ...cfg, anneal_start: 100, anneal_end: 100 }), { ratio: 0.5, alpha: 0.5, delta: 50 });
});

test('gradients reach the encoder through the straight-through estimator (clean and perturbed)', async () => {
  const m = build(3);
  const x = images(2, 4);
  const names = [
    'encoder.latent_tokens',
    'encoder.model.blocks.0.attn.qkv.weight',
    'quant_conv.weight',
    'quantize.embedding.weight',
    'decoder.to_pixel.model.weight',
  ];
  const sd = m.stateDict();
  const vars = names.map((n) => sd.get(n) as tf.Variable);
  await expectNoTensorLeak(() => {
    for (const perturbation of [undefined, { alpha: 1, beta: 1, delta: 8 }]) {
      const { value, grads } = tf.variableGrads(() => {
        const o = m.forward(x, { training: true, rng: Rng.fromSeed(9), perturbation });
        return o.recon.square().mean<tf.Scalar>();
      }, vars);
      for (const n of names) {
        const g = grads[(sd.get(n) as tf.Variable).name] as tf.Tensor;
        const norm = tf.tidy(() => g.abs().max().dataSync()[0] as number);
        // the reconstruction loss reaches the codebook only through the VQ losses, not the decoder path
        if (n === 'quantize.embedding.weight') assert.equal(norm, 0, `${n}: decoder path must not reach the codebook`);
        else assert.ok(norm > 0, `${n}: zero gradient (perturbation ${perturbation ? 'on' : 'off'})`);
      }
      tf.dispose([value, ...Object.values(grads)]);
    }
  });
  tf.dispose(x);
  m.dispose();
});

test('drop-path: training passes differ by rng and repeat from the same state; evaluation is deterministic', () => {
  const m = build(4);
  const x = images(4, 3);
  const run = (o: Parameters<RobustokTokenizer['encode']>[1]) => tf.tidy(() => Array.from(m.encode(x, o).dataSync()));
  const evalA = run({});
  assert.deepEqual(run({ training: false, rng: Rng.fromSeed(1) }), evalA);
  const a = run({ training: true, rng: Rng.fromSeed(1) });
  assert.deepEqual(run({ training: true, rng: Rng.fromSeed(1) }), a);
  assert.notDeepEqual(a, evalA);
  assert.notDeepEqual(run({ training: true, rng: Rng.fromSeed(2) }), a);
  assert.throws(() => m.encode(x, { training: true }), /needs an rng/);
  const m0 = build(4, { drop_path_rate: 0 });
  assert.deepEqual(
    tf.tidy(() => Array.from(m0.encode(x, { training: true }).dataSync())),
    tf.tidy(() => Array.from(m0.encode(x).dataSync())),
  );
  tf.dispose(x);
  m.dispose();
  m0.dispose();
});

test('API pieces: shapes, lastLayer, projectSemantic, encoder backbone names', () => {
  const m = build(5);
  assert.equal(m.gridSize, 4);
  assert.equal(m.numTokens, 16);
  assert.deepEqual(m.lastLayer().shape, [48, 32]);
  assert.equal(m.lastLayer(), m.stateDict().get('decoder.to_pixel.model.weight'));
  const f = tf.ones([3, 32]);
  const s = m.projectSemantic(f);
  assert.deepEqual(s.shape, [3, 8]);
  tf.dispose([f, s]);
  const frozen = m.encoderBackboneParameterNames();
  assert.ok(
    frozen.includes('encoder.model.blocks.0.attn.qkv.weight') &&
      frozen.includes('encoder.model.patch_embed.proj.weight') &&
      frozen.includes('encoder.model.norm.weight'),
  );
  for (const n of frozen) assert.ok(n.startsWith('encoder.model.'), n);
  assert.ok(!frozen.includes('encoder.latent_tokens') && !frozen.includes('encoder.lvl_embed.weight'));
  const names = [...m.stateDict().keys()];
  for (const n of [
    'quant_conv.weight',
    'post_quant_conv.weight',
    'quantize.embedding.weight',
    'decoder.mask_token',
    'decoder.model.pos_embed',
    'encoder.latent_tokens',
  ])
    assert.ok(names.includes(n), n);
  assert.ok(!names.some((n) => n.startsWith('decoder.model.patch_embed')), 'upstream deletes the decoder patch embedding');
  assert.deepEqual(m.stateDict().get('quant_conv.weight')?.shape, [8, 32, 1, 1]);
  m.dispose();
});

test('weights: a shape mismatch or missing key is CHECKPOINT_MISMATCH naming key, both shapes and the fix', async () => {
  const m = build(6);
  const sd = new Map(m.stateDict());
  const file = path.join(dir, 'bad.safetensors');
  const wrong = tf.zeros([64, 8]);
  sd.set('quantize.embedding.weight', wrong as tf.Variable);
  sd.delete('decoder.mask_token');
  await saveStateDict(file, sd);
  await assert.rejects(loadTokenizerWeights(m, file), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'CHECKPOINT_MISMATCH');
    assert.match(e.message, /quantize\.embedding\.weight \(model \[32, 8\], file \[64, 8\]\)/);
    assert.match(e.message, /missing 1 key\(s\) the model needs: decoder\.mask_token/);
    assert.match(e.message, /codebook 32×8/);
    return true;
  });
  wrong.dispose();
  m.dispose();
});

test('artifact: save model + EMA, load prefers EMA, model on request', async () => {
  const m = build(7);
  const ema = new Map([...m.stateDict()].map(([k, v]) => [k, tf.tidy(() => v.add(1))]));
  const out = path.join(dir, 'artifact');
  await saveTokenizerArtifact(out, { config: m.config, model: m.stateDict(), ema });
  const first = (t: tf.Tensor) => t.dataSync()[0] as number;
  const key = 'encoder.latent_tokens';
  const a = await loadTokenizerArtifact(out);
  assert.equal(a.weights, 'ema');
  assert.deepEqual(a.config, m.config);
  assert.ok(Math.abs(first(a.model.stateDict().get(key) as tf.Tensor) - first(ema.get(key) as tf.Tensor)) < 1e-6);
  const b = await loadTokenizerArtifact(out, { weights: 'model' });
  assert.equal(first(b.model.stateDict().get(key) as tf.Tensor), first(m.stateDict().get(key) as tf.Tensor));
  // every weight, not only that one, comes from the file (the model is built with a placeholder Rng that leaves zeros)
  const loaded = b.model.stateDict();
  for (const [k, t] of m.stateDict()) assert.deepEqual(loaded.get(k)?.dataSync(), t.dataSync(), k);
  const plain = path.join(dir, 'plain');
  await saveTokenizerArtifact(plain, m);
  assert.equal((await loadTokenizerArtifact(plain)).weights, 'model');
  await assert.rejects(loadTokenizerArtifact(plain, { weights: 'ema' }), { code: 'INPUT_MISSING' });
  await assert.rejects(loadTokenizerArtifact(path.join(dir, 'nope')), { code: 'INPUT_MISSING' });
  tf.dispose([...ema.values()]);
  for (const x of [m, a.model, b.model]) x.dispose();
});
