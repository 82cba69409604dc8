/**
 * The cache key of a stage run (ARCHITECTURE §4): sha256 of the canonical JSON of everything that
 * determines its outputs, and nothing else (no paths, hosts, timestamps, run ids), so the same
 * work gets the same key on every machine and in every process.
 */
import { canonicalJson, type Json } from '../core/canonical-json';
import { sha256Hex } from '../core/digest';
import type { CacheKeyMaterial, StageRun } from './types';

/** The key material of a planned run once its inputs' content digests are known. */
export function keyMaterial(run: Pick<StageRun, 'kind' | 'version' | 'config' | 'seed'>, inputDigests: Readonly<Record<string, string>>): CacheKeyMaterial {
  return { kind: run.kind, version: run.version, config: run.config, inputDigests, seed: run.seed };
}

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

/**
 * Why two cache keys differ, as lines for `robustok explain` (empty when the materials are equal):
 *   config.params.sigma: 0.1 → 0.2
 *   input "data": digest 3f2a9c01… → 77b0e412…
 */
export function explainKeyChange(previous: CacheKeyMaterial, current: CacheKeyMaterial): string[] {
  const lines: string[] = [];
  if (previous.kind !== current.kind) lines.push(`kind: ${previous.kind} → ${current.kind}`);
  if (previous.version !== current.version)
    lines.push(`version of "${current.kind}": ${previous.version} → ${current.version} (the stage's behaviour changed)`);
  diffJson(previous.config, current.config, 'config', lines);
  const names = [...new Set([...Object.keys(previous.inputDigests), ...Object.keys(current.inputDigests)])].sort();
  for (const n of names) {
    const a = previous.inputDigests[n];
    const b = current.inputDigests[n];
    if (a === b) continue;
    if (a === undefined) lines.push(`input "${n}": added (${short(b)})`);
    else if (b === undefined) lines.push(`input "${n}": removed (was ${short(a)})`);
    else lines.push(`input "${n}": digest ${short(a)} → ${short(b)} (an upstream output changed)`);
  }
  if (previous.seed !== current.seed) lines.push(`seed: ${previous.seed} → ${current.seed}`);
  return lines;
}

function short(digest: string | undefined): string {
  return digest === undefined ? '?' : `${digest.slice(0, 8)}…`;
}

function show(v: Json | undefined): string {
  return v === undefined ? '(absent)' : canonicalJson(v);
}

/** Appends 'path: old → new' for every leaf that differs; lists of unequal length are shown whole. */
function diffJson(a: Json | undefined, b: Json | undefined, path: string, out: string[]): void {
  if (a !== undefined && b !== undefined && canonicalJson(a) === canonicalJson(b)) return;
  const isObj = (v: Json | undefined): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort())
      diffJson(a[k], b[k], `${path}${/^[A-Za-z_][A-Za-z0-9_-]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`}`, out);
  } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    a.forEach((v, i) => diffJson(v, b[i], `${path}[${i}]`, out));
  } else {
    out.push(`${path}: ${show(a)} → ${show(b)}`);
  }
}
