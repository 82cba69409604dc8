/**
 * The cache key of a stage run (ARCHITECTURE §4): sha256 of the canonical JSON of everything that
 * determines its outputs, and nothing else (no paths, hosts, timestamps, run ids), so the same
 * work gets the same key on every machine and in every process.
 */
import { canonicalJson } from '../core/canonical-json';
import { sha256Hex } from '../core/digest';
import type { CacheKeyMaterial } from './types';

export function cacheKey(material: CacheKeyMaterial): string {
  return sha256Hex(
    canonicalJson({
      // Different kinds can share a config shape; their outputs differ.
      kind: material.kind,
      // A stage whose behaviour changed bumps its version: old entries must not be served.
      version: material.version,
      // The resolved config after defaults, overrides and sweep substitution.
      config: material.config,
      // Content digests of the inputs (not producer ids): an upstream rerun that produced
      // identical bytes keeps this key, a changed upstream output changes it.
      inputDigests: material.inputDigests,
      // Part of the key because seeded stages produce different outputs per seed.
      seed: material.seed,
    }),
  );
}
