/**
 * Names of the architectures `robustok model forward` knows (models/registry.ts), without loading
 * tfjs: the CLI's --help lists them. A unit test keeps this list and the registry equal.
 */
export const ARCH_NAMES = ['mlp', 'transformer-block', 'vit-encoder', 'rar', 'robustok-tokenizer'] as const;
