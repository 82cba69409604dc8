/**
 * The `robustok-tokenizer` entry of the arch registry:
 *
 *   robustok model forward --arch robustok-tokenizer --config tok.yaml --weights tok.safetensors \
 *     --input images.npy --out dir      # float32 NCHW in [-1, 1] → codes.npy, latents.npy, recon.npy
 *   … --input codes.npy --out dir       # integer ids [B, L] → recon.npy
 *
 * Weights may be a converted upstream `model`/`ema` state dict: its int64 level buffers, usage statistic
 * and semantic teacher are skipped (tokenizer-artifact.ts isUpstreamOnlyKey).
 */
import type * as tf from '@tensorflow/tfjs';
import { RobustokTokenizer } from './robustok-tokenizer';
import { isUpstreamOnlyKey } from './tokenizer-artifact';
import { tokenizerConfigSchema, type TokenizerConfig } from './tokenizer-config';
import type { ArchEntry, BuiltModel } from './registry';
import type { Rng } from './training/rng';

export const robustokTokenizerArch = {
  description: 'RobusTok tokenizer: images NCHW in [-1, 1] → codes [B, L], latents [B, D, g, g], recon [B, 3, H, W]; or int codes [B, L] → recon',
  config: tokenizerConfigSchema,
  build: (c: TokenizerConfig, rng: Rng): BuiltModel => {
    const m = new RobustokTokenizer(c, rng);
    const S = c.image_size;
    return {
      module: m,
      inputs: [{ name: 'images', dtype: 'float32', shape: ['B', 3, S, S], or: { name: 'codes', dtype: 'int32', shape: ['B', m.numTokens] } }],
      ignoreWeight: isUpstreamOnlyKey,
      forward: ([x]): Record<string, tf.Tensor> => {
        const input = x as tf.Tensor;
        if (input.dtype === 'int32') return { recon: m.decodeCodes(input) };
        const out = m.forward(input);
        out.quant.dispose();
        out.codebookLoss.dispose();
        out.commitLoss.dispose();
        return { codes: out.codes, latents: out.latents, recon: out.recon };
      },
    };
  },
} satisfies ArchEntry<typeof tokenizerConfigSchema>;
