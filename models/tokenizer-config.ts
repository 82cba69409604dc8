/**
 * Configuration of the RobusTok tokenizer (models/robustok-tokenizer.ts). Pure: stage configs and the
 * catalog import it without loading tfjs.
 *
 * Keys are upstream's `ModelArgs` names where upstream has one (codebook_size, codebook_embed_dim,
 * codebook_l2_norm, commit_loss_beta, num_latent_tokens); the ViT sizes, which upstream hard-codes
 * through a timm model name (ViT-B/16 at 256 px, DINOv2 init), are ours: image_size, patch_size, width,
 * depth, num_heads, mlp_ratio, drop_path_rate, layer_scale_init. Both ViTs (encoder and decoder) share
 * them, as upstream's do. Defaults are the paper's values (dossier §1.2, §2.1–§2.3).
 */
import { z } from 'zod';
import { PipelineError } from '../core/errors';

const posInt = z.number().int().positive();

const baseSchema = z.strictObject({
  /** Square input/output image side in pixels. */
  image_size: posInt.default(256),
  /** ViT patch side; the latent grid is (image_size / patch_size)². */
  patch_size: posInt.default(16),
  /** ViT embedding width of encoder and decoder (ViT-B: 768). */
  width: posInt.default(768),
  depth: posInt.default(12),
  num_heads: posInt.default(12),
  mlp_ratio: z.number().positive().default(4),
  /** Stochastic depth at the last block (linearly 0 → rate over the blocks, timm rule); training only. */
  drop_path_rate: z.number().min(0).lt(1).default(0.1),
  /** LayerScale init (DINOv2: 1e-5); null = blocks without LayerScale. */
  layer_scale_init: z.number().positive().nullable().default(1e-5),
  codebook_size: posInt.default(4096),
  codebook_embed_dim: posInt.default(64),
  /** RobusTok always l2-normalises tokens and codes; false (plain VQ) is not implemented. */
  codebook_l2_norm: z.boolean().default(true),
  commit_loss_beta: z.number().nonnegative().default(0.25),
  /** Must equal the number of image patches: the latent tokens reuse the image position embedding. */
  num_latent_tokens: posInt.default(256),
});

/** Everything `baseSchema` cannot check field by field; each entry names the keys and the fix. */
export function tokenizerConfigProblems(c: z.output<typeof baseSchema>): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (c.image_size % c.patch_size !== 0) {
    out.push({ path: 'patch_size', message: `image_size ${c.image_size} is not a multiple of patch_size ${c.patch_size}` });
  } else {
    const grid = c.image_size / c.patch_size;
    if (c.num_latent_tokens !== grid * grid) {
      out.push({
        path: 'num_latent_tokens',
        message: `num_latent_tokens ${c.num_latent_tokens} must equal the patch grid (${c.image_size}/${c.patch_size})² = ${grid * grid}: latent tokens share the 2-D image position embedding`,
      });
    }
  }
  if (c.width % c.num_heads !== 0) out.push({ path: 'num_heads', message: `width ${c.width} is not divisible by num_heads ${c.num_heads}` });
  if (!c.codebook_l2_norm) out.push({ path: 'codebook_l2_norm', message: 'codebook_l2_norm: false (unnormalised VQ) is not implemented; RobusTok uses true' });
  return out;
}

export const tokenizerConfigSchema = baseSchema.superRefine((c, ctx) => {
  for (const p of tokenizerConfigProblems(c)) ctx.addIssue({ code: 'custom', path: [p.path], message: p.message });
});

export type TokenizerConfig = z.output<typeof tokenizerConfigSchema>;
export type TokenizerConfigInput = z.input<typeof tokenizerConfigSchema>;

/** Parses a raw config (defaults filled); CONFIG_INVALID lists every issue with its key. */
export function parseTokenizerConfig(raw: unknown, where = 'tokenizer config'): TokenizerConfig {
  const r = tokenizerConfigSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
  throw new PipelineError('CONFIG_INVALID', `invalid ${where}:\n  ${issues.join('\n  ')}`, { details: { issues: r.error.issues } });
}

/** Side of the latent grid (= image patch grid). */
export function tokenizerGridSize(c: Pick<TokenizerConfig, 'image_size' | 'patch_size'>): number {
  return c.image_size / c.patch_size;
}
