/**
 * Tiny random-weight generator + tokenizer artifacts (and a synthetic ImageFolder) for the tests of
 * the sampling stages: a 16 px tokenizer with a 2×2 grid and 64 codes, a 2-layer RAR over the same
 * 4 ids (sampling costs one model call per id). The RAR weights are redrawn at random, because its
 * adaLN-zero initialisation alone would give uniform logits and hide conditioning bugs; at a scale small
 * enough that guided logits stay far from one-hot, so different seeds give different samples. The
 * tokenizer has no LayerScale: at its 1e-5 init the decoder's output would barely depend on the ids,
 * and images of different ids would round to the same uint8 pixels.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../compute/backend';
import { writeSyntheticDataset } from '../../data/synthetic-images';
import { Rar } from '../../models/rar';
import { saveRarArtifact } from '../../models/rar-artifact';
import { RarConfig } from '../../models/rar-config';
import { RobustokTokenizer } from '../../models/robustok-tokenizer';
import { saveTokenizerArtifact } from '../../models/tokenizer-artifact';
import { parseTokenizerConfig } from '../../models/tokenizer-config';
import { Rng } from '../../models/training/rng';

export const TINY_TOKENIZER = parseTokenizerConfig({
  image_size: 16,
  patch_size: 8,
  width: 32,
  depth: 1,
  num_heads: 2,
  codebook_size: 64,
  codebook_embed_dim: 8,
  num_latent_tokens: 4,
  layer_scale_init: null,
});
export const TINY_RAR = RarConfig.parse({ hiddenSize: 16, numLayers: 2, numHeads: 2, intermediateSize: 32, imageSeqLen: 4, codebookSize: 64, numClasses: 4 });

export interface SamplingArtifacts {
  generator: string;
  tokenizer: string;
  /** A 3-class synthetic dataset (train: 3 per class, val: 1 per class) at 20 px. */
  dataset: string;
  /** The models as saved (the tokenizer's EMA weights are the ones the stages use by default). */
  rar: Rar;
  ema: RobustokTokenizer;
  trained: RobustokTokenizer;
}

export function randomRar(config: RarConfig = TINY_RAR, seed = 55): Rar {
  const m = new Rar(config, Rng.fromSeed(seed));
  const rng = Rng.fromSeed(seed + 1);
  for (const v of m.parameters().values()) v.assign(tf.tidy(() => tf.tensor(rng.fillNormal(new Float32Array(v.size), 0, 0.1), v.shape)));
  return m;
}

let cached: Promise<SamplingArtifacts> | undefined;

/** Built once per test process. */
export function samplingArtifacts(): Promise<SamplingArtifacts> {
  cached ??= (async () => {
    await initBackend({ log: null });
    const root = await mkdtemp(path.join(os.tmpdir(), 'sampling-art-'));
    const dataset = path.join(root, 'data');
    await writeSyntheticDataset(dataset, { imageSize: 20, numClasses: 3, trainPerClass: 3, valPerClass: 1, seed: 4 });
    const tokenizer = path.join(root, 'tokenizer');
    const trained = new RobustokTokenizer(TINY_TOKENIZER, Rng.fromSeed(1));
    const ema = new RobustokTokenizer(TINY_TOKENIZER, Rng.fromSeed(2));
    await saveTokenizerArtifact(tokenizer, { config: TINY_TOKENIZER, model: trained.stateDict(), ema: ema.stateDict() });
    const generator = path.join(root, 'generator');
    const rar = randomRar();
    await saveRarArtifact(generator, TINY_RAR, rar.stateDict());
    return { generator, tokenizer, dataset, rar, ema, trained };
  })();
  return cached;
}

/** The §6 conversion in float32 arithmetic, computed independently of the stage's tensor code. */
export function uint8Of(x: number): number {
  return Math.trunc(Math.min(255, Math.max(0, Math.fround(Math.fround(127.5 * x) + 128))));
}

/** NCHW float images → uint8 [B, H, W, 3] with uint8Of. */
export async function expectedPixels(nchw: tf.Tensor4D): Promise<Uint8Array> {
  const [B, , H, W] = nchw.shape;
  const d = await nchw.data();
  const out = new Uint8Array(B * H * W * 3);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) out[(b * H * W + i) * 3 + c] = uint8Of(d[(b * 3 + c) * H * W + i] as number);
  return out;
}
