/**
 * Checks that the bench's PyTorch port (bench/torch/robustok_tokenizer_port.py) computes what our
 * tokenizer computes, so the bench compares the same model: with our weights loaded into the port,
 * codes, reconstruction, loss and every parameter's gradient must agree within float32 noise.
 *
 *   npx tsx bench/tokenizer-port-check.ts [--size smoke|mid]     (needs torch: bench/torch.ts finds it)
 *
 * The gradient check runs without drop-path and perturbation (their draws come from different
 * generators on the two sides); the timed bench runs with both.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../compute/backend';
import { tensorEntries, writeSafetensors } from '../compute/safetensors';
import { RobustokTokenizer } from '../models/robustok-tokenizer';
import { parseTokenizerConfig } from '../models/tokenizer-config';
import { disposeGrads, namedGrads } from '../models/training/grads';
import { Rng } from '../models/training/rng';
import { TOKENIZER_SIZES } from './tokenizer-cases';
import { findTorch } from './torch';

async function main(): Promise<void> {
  const i = process.argv.indexOf('--size');
  const sizeName = (i > 0 ? process.argv[i + 1] : 'smoke') as keyof typeof TOKENIZER_SIZES;
  const size = TOKENIZER_SIZES[sizeName];
  if (!size) throw new Error(`--size must be one of ${Object.keys(TOKENIZER_SIZES).join(', ')}`);
  await initBackend({ log: (l) => console.error(l) });
  const torch = findTorch({ install: false, log: (l) => console.error(l) });
  if ('error' in torch) throw new Error(torch.error);

  const model = new RobustokTokenizer(parseTokenizerConfig(size.model), Rng.fromSeed(3));
  const S = size.model.image_size;
  const batch = Math.min(size.batch, 4);
  const images = tf.randomUniform([batch, 3, S, S], -1, 1, 'float32', 4); // NCHW in [-1, 1]
  const named = new Map<string, tf.Tensor>(model.stateDict());
  const { loss, grads } = namedGrads(() => {
    const out = model.forward(images);
    named.set('out.recon', tf.keep(out.recon));
    named.set('out.codes', tf.keep(out.codes));
    return out.recon.sub(images).square().mean().add(out.codebookLoss).add<tf.Scalar>(out.commitLoss);
  }, model.trainableParameters());
  named.set('input.images', images);
  named.set('out.loss', loss.reshape([1]));
  for (const [n, g] of grads) named.set(`grad.${n}`, g);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'tok-port-'));
  try {
    const file = path.join(dir, 'check.safetensors');
    await writeSafetensors(file, tensorEntries(named), { metadata: { config: JSON.stringify(size.model) } });
    const r = spawnSync(torch.python, [path.join(__dirname, 'torch', 'check_port.py'), file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    process.stdout.write(r.stdout);
    if (r.status !== 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    disposeGrads(grads);
    tf.dispose([loss, images, named.get('out.recon'), named.get('out.codes'), named.get('out.loss')]);
    model.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
