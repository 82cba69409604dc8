import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadStateDictFile, saveStateDict } from '../../../compute/checkpoint';
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from '../../../compute/checkpoint-training';
import { Mlp } from '../../../models/layers/mlp';
import { VitBlock } from '../../../models/layers/vit-block';
import { AdamW } from '../../../models/training/adamw';
import { Ema } from '../../../models/training/ema';
import { namedGrads, disposeGrads } from '../../../models/training/grads';
import { Rng, RngStreams } from '../../../models/training/rng';
import { expectNoTensorLeak } from '../../helpers/tensors';
import type { PipelineError } from '../../../core/errors';

let dir = '';
before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(os.tmpdir(), 'checkpoint-test-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const values = (m: Map<string, tf.Variable>) => new Map([...m].map(([k, v]) => [k, Array.from(v.dataSync())]));

test('a saved state dict loads strictly into a differently initialised model', async () => {
  const a = new VitBlock({ dim: 8, numHeads: 2, layerScale: 0.1, rng: Rng.fromSeed(1) });
  const b = new VitBlock({ dim: 8, numHeads: 2, layerScale: 0.1, rng: Rng.fromSeed(2) });
  const file = path.join(dir, 'block.safetensors');
  await saveStateDict(file, a.stateDict());
  await expectNoTensorLeak(async () => {
    const report = await loadStateDictFile(b.stateDict(), file);
    assert.equal(report.loaded.length, a.stateDict().size);
  });
  assert.deepEqual(values(b.stateDict()), values(a.stateDict()));
  a.dispose();
  b.dispose();
});

test('missing, unexpected and mismatched keys are reported together; a strict failure changes nothing', async () => {
  const saved = new Mlp({ dim: 4, hidden: 8, rng: Rng.fromSeed(1) });
  const file = path.join(dir, 'mlp.safetensors');
  const extra = tf.zeros([3]);
  const entries: [string, tf.Tensor][] = [...saved.stateDict()].filter(([k]) => k !== 'fc2.bias');
  entries.push(['semantic_model.norm.weight', extra]);
  await saveStateDict(file, new Map(entries));
  const other = new Mlp({ dim: 4, hidden: 16, rng: Rng.fromSeed(2) }); // fc1 16×4, fc2 4×16
  const before = values(other.stateDict());
  await assert.rejects(loadStateDictFile(other.stateDict(), file), (e: PipelineError) => {
    assert.equal(e.code, 'CHECKPOINT_MISMATCH');
    assert.match(e.message, /missing 1 key\(s\) the model needs: fc2\.bias/);
    assert.match(e.message, /unexpected 1 key\(s\) the model does not have: semantic_model\.norm\.weight/);
    assert.match(
      e.message,
      /shape mismatch for 3 key\(s\): fc1\.weight \(model \[16, 4\], file \[8, 4\]\), fc1\.bias \(model \[16\], file \[8\]\), fc2\.weight \(model \[4, 16\], file \[4, 8\]\)/,
    );
    assert.deepEqual(e.details?.missing, ['fc2.bias']);
    return true;
  });
  assert.deepEqual(values(other.stateDict()), before, 'no variable changed');

  // non-strict: warnings, and the one matching tensor is loaded
  const warnings: string[] = [];
  const same = new Mlp({ dim: 4, hidden: 8, rng: Rng.fromSeed(3) });
  const report = await loadStateDictFile(same.stateDict(), file, { strict: false, onWarning: (w) => warnings.push(w) });
  assert.deepEqual(report.missing, ['fc2.bias']);
  assert.deepEqual(report.unexpected, ['semantic_model.norm.weight']);
  assert.equal(warnings.length, 2);
  assert.deepEqual(report.loaded, ['fc1.weight', 'fc1.bias', 'fc2.weight']);
  assert.deepEqual(Array.from(same.fc1.weight.dataSync()), Array.from(saved.fc1.weight.dataSync()));

  // ignoring the teacher's keys leaves only the missing bias
  await assert.rejects(loadStateDictFile(same.stateDict(), file, { ignore: (n) => n.startsWith('semantic_model.') }), (e: PipelineError) => {
    assert.doesNotMatch(e.message, /unexpected/);
    return true;
  });
  extra.dispose();
  [saved, other, same].forEach((m) => m.dispose());
});

test('f16/bf16 checkpoints load into float32 models', async () => {
  const a = new Mlp({ dim: 4, hidden: 8, rng: Rng.fromSeed(4) });
  const b = new Mlp({ dim: 4, hidden: 8, rng: Rng.fromSeed(5) });
  for (const dtype of ['F16', 'BF16'] as const) {
    const file = path.join(dir, `mlp-${dtype}.safetensors`);
    await saveStateDict(file, a.stateDict(), { dtype });
    await loadStateDictFile(b.stateDict(), file);
    const diff = tf.tidy(() => a.fc1.weight.sub(b.fc1.weight).abs().max().dataSync()[0]!);
    assert.ok(diff < 1e-3, `${dtype}: max diff ${diff}`);
  }
  a.dispose();
  b.dispose();
});

test('a training checkpoint resumes model, EMA, AdamW and RNG exactly', async () => {
  const data = tf.tensor(
    Array.from({ length: 24 }, (_, i) => Math.sin(i)),
    [6, 4],
  );
  const setup = (seed: number) => {
    const model = new Mlp({ dim: 4, hidden: 8, rng: Rng.fromSeed(seed) });
    return { model, opt: new AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.1 }), ema: new Ema(model.parameters(), 0.9), rng: new RngStreams(seed) };
  };
  const step = (s: ReturnType<typeof setup>) => {
    const noise = s.rng.stream('noise').normal();
    const { loss, grads } = namedGrads(() => tf.tidy(() => s.model.forward(data).sub(noise).square().mean<tf.Scalar>()), s.model.parameters());
    s.opt.applyGradients(grads);
    s.ema.update();
    disposeGrads(grads);
    loss.dispose();
  };
  const a = setup(1);
  for (let i = 0; i < 3; i++) step(a);
  const file = path.join(dir, 'train.safetensors');
  await saveTrainingCheckpoint(file, { model: a.model.stateDict(), ema: a.ema, optimizer: a.opt }, { step: 3, rng: a.rng.getState(), extra: { epoch: 0 } });
  for (let i = 0; i < 2; i++) step(a);

  const b = setup(99); // different init and seed: everything must come from the checkpoint
  const { state } = await loadTrainingCheckpoint(file, { model: b.model.stateDict(), ema: b.ema, optimizer: b.opt });
  assert.equal(state.step, 3);
  assert.deepEqual(state.extra, { epoch: 0 });
  assert.equal(b.opt.step, 3);
  b.rng = RngStreams.fromState(state.rng!);
  for (let i = 0; i < 2; i++) step(b);
  assert.deepEqual(values(b.model.parameters()), values(a.model.parameters()));
  assert.deepEqual(values(b.ema.tensors()), values(a.ema.tensors()));

  // plain weights are not a training checkpoint
  const plain = path.join(dir, 'plain.safetensors');
  await saveStateDict(plain, a.model.stateDict());
  await assert.rejects(loadTrainingCheckpoint(plain, { model: b.model.stateDict() }), { code: 'CHECKPOINT_MISMATCH' });
  for (const s of [a, b]) {
    s.model.dispose();
    s.opt.dispose();
    s.ema.dispose();
  }
  data.dispose();
});
