/**
 * Initialising the tokenizer's two ViT trunks from one pretrained ViT (dossier §2.1, §2.3: both
 * encoder and decoder start from DINOv2 ViT-B; the decoder's patch embedding is not used).
 *
 * The file is a timm ViT state dict already laid out for the tokenizer's geometry — for the paper,
 * timm's `vit_base_patch14_dinov2` created with `img_size=256, patch_size=16, pretrained=True`, whose
 * checkpoint filter resamples the 14×14 patch kernel to 16×16 and the 37×37 position grid to 16×16;
 * saving that model's state_dict() as safetensors gives exactly this file. Names are timm's
 * (`cls_token`, `pos_embed`, `patch_embed.proj.*`, `blocks.N.*`, `norm.*`), which are ours under
 * `encoder.model.` and `decoder.model.`; `head.*`, `mask_token` and register tokens are ignored. A
 * trunk tensor the file lacks, or one of another shape, is CHECKPOINT_MISMATCH naming it: a silently
 * partial init would train from noise and look like a bad run, not a bad file.
 */
import type * as tf from '@tensorflow/tfjs';
import { loadStateDict } from '../compute/checkpoint';
import { SafetensorsReader } from '../compute/safetensors';
import { PipelineError } from '../core/errors';
import type { RobustokTokenizer } from './robustok-tokenizer';

const IGNORED = (name: string) => name.startsWith('head.') || name === 'mask_token' || name.startsWith('reg_token');

/** The variables of one trunk, named as in the timm state dict (prefix stripped). */
function trunk(model: RobustokTokenizer, which: 'encoder' | 'decoder'): Map<string, tf.Variable> {
  const prefix = `${which}.model.`;
  const out = new Map<string, tf.Variable>();
  for (const [name, v] of model.parameters()) {
    if (!name.startsWith(prefix)) continue;
    const own = name.slice(prefix.length);
    if (which === 'decoder' && own.startsWith('patch_embed.')) continue; // upstream deletes it
    out.set(own, v);
  }
  return out;
}

export interface TokenizerInitReport {
  readonly encoder: number;
  readonly decoder: number;
}

export async function initTokenizerTrunks(model: RobustokTokenizer, file: string): Promise<TokenizerInitReport> {
  const reader = await SafetensorsReader.open(file);
  try {
    if (reader.names().some((n) => n.startsWith('encoder.') || n.startsWith('decoder.'))) {
      throw new PipelineError(
        'CHECKPOINT_MISMATCH',
        `${file} holds a whole tokenizer (encoder.* / decoder.* names), not one ViT: wire a pretrained timm ViT state dict as \`init\` (see models/tokenizer-init.ts), or post-train from a tokenizer artifact with tokenizer.posttrain`,
      );
    }
    const hint =
      "the init ViT must already have the config's geometry (timm create_model(..., img_size=image_size, patch_size=patch_size, pretrained=True) resamples DINOv2 on load) and the same width/depth/heads";
    const load = async (which: 'encoder' | 'decoder') => {
      try {
        return await loadStateDict(trunk(model, which), reader, {
          strict: true,
          ignore: (n) => IGNORED(n) || (which === 'decoder' && n.startsWith('patch_embed.')),
        });
      } catch (e) {
        if (e instanceof PipelineError && e.code === 'CHECKPOINT_MISMATCH')
          throw new PipelineError('CHECKPOINT_MISMATCH', `${which} init: ${e.message}\n${hint}`, { cause: e, details: e.details });
        throw e;
      }
    };
    const enc = await load('encoder');
    const dec = await load('decoder');
    return { encoder: enc.loaded.length, decoder: dec.loaded.length };
  } finally {
    await reader.close();
  }
}
