/**
 * Reads the tokenizer config that ships with upstream checkpoints (configs/main-train.yaml or
 * post-train.yaml, dossier §1.2) into our TokenizerConfig keys, so a released checkpoint can be
 * imported with the YAML it was trained with. Pure.
 *
 * Upstream names the ViT by a timm model (`encoder_model: vit_base_patch14_dinov2.lvd142m`) and builds
 * it at `image_size` with patch 16 whatever the name says (dossier §1.2); the sizes below are timm's
 * for that family. Only the configuration RobusTok uses is supported (dinov2 ViT encoder and decoder of
 * the same model, product_quant 1, one latent scale): anything else is a CONFIG_INVALID naming the key.
 * Keys of our own config (width, depth, …) pass through, and win over values derived from upstream keys.
 */
import { PipelineError } from '../core/errors';
import { parseTokenizerConfig, type TokenizerConfig } from './tokenizer-config';

const VIT_SIZES: readonly { prefix: string; width: number; depth: number; num_heads: number }[] = [
  { prefix: 'vit_small_', width: 384, depth: 12, num_heads: 6 },
  { prefix: 'vit_base_', width: 768, depth: 12, num_heads: 12 },
  { prefix: 'vit_large_', width: 1024, depth: 24, num_heads: 16 },
];

/** The patch size upstream's DINOv2Encoder/Decoder pass to timm, independent of the model name. */
const UPSTREAM_PATCH = 16;

/** Our config keys; upstream's YAML shares six of them (image_size, codebook_*, commit_loss_beta, num_latent_tokens). */
const OWN_KEYS = new Set([
  'image_size',
  'patch_size',
  'width',
  'depth',
  'num_heads',
  'mlp_ratio',
  'drop_path_rate',
  'layer_scale_init',
  'codebook_size',
  'codebook_embed_dim',
  'codebook_l2_norm',
  'commit_loss_beta',
  'num_latent_tokens',
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Our config keys from an upstream tokenizer YAML document (keys it does not know are ignored). */
export function tokenizerKeysFromUpstream(raw: unknown, where: string): Record<string, unknown> {
  if (!isRecord(raw)) throw new PipelineError('CONFIG_INVALID', `${where}: expected a mapping of upstream config keys`);
  const bad = (key: string, why: string) => new PipelineError('CONFIG_INVALID', `${where}: ${key} ${why}`);
  for (const k of ['enc_type', 'dec_type'] as const)
    if (raw[k] !== undefined && raw[k] !== 'dinov2') throw bad(k, `is ${JSON.stringify(raw[k])}; only the dinov2 ViT tokenizer RobusTok uses can be imported`);
  if (raw.product_quant !== undefined && raw.product_quant !== 1)
    throw bad('product_quant', `is ${JSON.stringify(raw.product_quant)}; only plain VQ (1) is implemented`);
  const scales = raw.v_patch_nums;
  if (scales !== undefined && (!Array.isArray(scales) || scales.length !== 1 || typeof scales[0] !== 'number'))
    throw bad('v_patch_nums', `is ${JSON.stringify(scales)}; only one latent scale ([16]) is implemented`);
  const out: Record<string, unknown> = {};
  const enc = raw.encoder_model;
  const dec = raw.decoder_model;
  if (enc !== undefined || dec !== undefined) {
    if (enc !== undefined && dec !== undefined && enc !== dec)
      throw bad('decoder_model', `(${JSON.stringify(dec)}) differs from encoder_model (${JSON.stringify(enc)}); both ViTs share one size here`);
    const name = typeof (enc ?? dec) === 'string' ? String(enc ?? dec) : JSON.stringify(enc ?? dec);
    const size = VIT_SIZES.find((s) => name.startsWith(s.prefix));
    if (!size) throw bad('encoder_model', `${JSON.stringify(name)} is not a timm vit_small_/vit_base_/vit_large_ model`);
    Object.assign(out, { width: size.width, depth: size.depth, num_heads: size.num_heads, patch_size: UPSTREAM_PATCH });
  }
  for (const [k, v] of Object.entries(raw)) if (OWN_KEYS.has(k)) out[k] = v;
  if (out.num_latent_tokens === undefined && Array.isArray(scales)) out.num_latent_tokens = Number(scales[0]) ** 2;
  return out;
}

/** The tokenizer config of an import: upstream YAML keys (when given), then `overrides` (our keys) on top. */
export function importedTokenizerConfig(upstream: unknown, overrides: Readonly<Record<string, unknown>>, where: string): TokenizerConfig {
  const base = upstream === undefined ? {} : tokenizerKeysFromUpstream(upstream, where);
  return parseTokenizerConfig({ ...base, ...overrides }, `tokenizer config of ${where}`);
}
