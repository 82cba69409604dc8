/**
 * Both ViT trunks of the tokenizer start from one timm-named ViT state dict (dossier §2.1/§2.3): every
 * trunk tensor is loaded into the encoder and the decoder (not the decoder's patch embedding, which
 * upstream deletes), nothing else changes, and a missing or differently shaped tensor is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveStateDict } from '../../../compute/checkpoint';
import { isPipelineError } from '../../../core/errors';
import { RobustokTokenizer } from '../../../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../../../models/tokenizer-config';
import { initTokenizerTrunks } from '../../../models/tokenizer-init';
import { Rng } from '../../../models/training/rng';
import { expectNoTensorLeak } from '../../helpers/tensors';

const CFG = parseTokenizerConfig({
  image_size: 16,
  patch_size: 4,
  width: 32,
  depth: 1,
  num_heads: 2,
  codebook_size: 64,
  codebook_embed_dim: 8,
  num_latent_tokens: 16,
  drop_path_rate: 0,
});

/** A "pretrained ViT": the encoder trunk of another tokenizer under timm names, plus a classifier head. */
async function vitFile(dir: string, drop?: string): Promise<{ file: string; values: Map<string, Float32Array> }> {
  const donor = new RobustokTokenizer(CFG, Rng.fromSeed(77));
  const named = new Map<string, tf.Tensor>();
  for (const [name, v] of donor.parameters()) if (name.startsWith('encoder.model.') && name.slice(14) !== drop) named.set(name.slice(14), v);
  const head = tf.zeros([10, 32]);
  named.set('head.weight', head);
  const file = path.join(dir, `vit${drop ? '-partial' : ''}.safetensors`);
  await saveStateDict(file, named);
  const values = new Map([...named].map(([k, t]) => [k, Float32Array.from(t.dataSync())]));
  head.dispose();
  donor.dispose();
  return { file, values };
}

test('initTokenizerTrunks fills both trunks from one ViT, leaves the rest, refuses partial files', async () => {
  await tf.setBackend('cpu');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tok-init-'));
  const { file, values } = await vitFile(dir);
  const model = new RobustokTokenizer(CFG, Rng.fromSeed(1));
  const before = new Map([...model.parameters()].map(([k, v]) => [k, Float32Array.from(v.dataSync())]));
  const report = await expectNoTensorLeak(() => initTokenizerTrunks(model, file));
  const params = model.parameters();
  let trunkTensors = 0;
  for (const [name, v] of params) {
    const now = Float32Array.from(v.dataSync());
    const m = /^(encoder|decoder)\.model\.(.+)$/.exec(name);
    const own = m?.[2];
    if (m && own !== undefined && !(m[1] === 'decoder' && own.startsWith('patch_embed.'))) {
      trunkTensors++;
      assert.deepEqual(now, values.get(own), `${name} comes from the file`);
    } else {
      assert.deepEqual(now, before.get(name), `${name} is untouched`);
    }
  }
  assert.equal(report.encoder + report.decoder, trunkTensors);
  assert.ok(report.encoder > report.decoder, 'the decoder skips the patch embedding');

  const partial = await vitFile(dir, 'blocks.0.attn.qkv.weight');
  await assert.rejects(
    initTokenizerTrunks(model, partial.file),
    (e) => isPipelineError(e, 'CHECKPOINT_MISMATCH') && /blocks\.0\.attn\.qkv\.weight/.test(e.message) && /geometry/.test(e.message),
  );
  const wide = new RobustokTokenizer(parseTokenizerConfig({ ...CFG, width: 64 }), Rng.fromSeed(2));
  await assert.rejects(initTokenizerTrunks(wide, file), (e) => isPipelineError(e, 'CHECKPOINT_MISMATCH'));
  wide.dispose();
  model.dispose();
});
