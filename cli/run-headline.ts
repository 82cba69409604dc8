/**
 * What a user looks for first after a run: which compute backend did the work (wasm is several times
 * slower than native TensorFlow, so it must not go unnoticed) and the FID, with whether its feature
 * network makes it comparable with published numbers at all.
 */
import { lookupManifest } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';
import type { BackendInfo } from '../compute/backend';
import type { RunRecord } from '../core/run-record';

/**
 * compute/backend.ts's own one-liner (without the skipped candidates), plus a hint when it was not native.
 * Imported only when a stage recorded a backend: that module loads tfjs (~150 ms of CPU), which a run of
 * command stages or an all-cached re-run otherwise never needs.
 */
async function describe(b: BackendInfo): Promise<string> {
  const { describeBackend } = await import('../compute/backend.js');
  const slow = b.backend === 'wasm' || b.backend === 'cpu' ? ' — slower than native TensorFlow; `npm run native-tf` installs it' : '';
  return describeBackend({ ...b, skipped: [] }) + slow;
}

/** The distinct backends recorded in the manifests of the stage runs that ran in this run, one line each. */
export async function backendsUsed(store: ArtifactStore, record: RunRecord): Promise<string[]> {
  const seen = new Set<string>();
  for (const s of record.stages) {
    if (s.outcome !== 'ran' || s.key === undefined) continue;
    const found = await lookupManifest(store, s.key, { verify: false }).catch(() => undefined);
    const b = found?.state === 'hit' ? (found.manifest.backend as BackendInfo | undefined) : undefined;
    if (b && typeof b === 'object') seen.add(await describe(b));
  }
  return [...seen];
}

/** One line per eval.fid stage run: its FID (and the other metrics present) and the network's provenance. */
export function fidLines(record: RunRecord): string[] {
  const lines: string[] = [];
  for (const s of record.stages) {
    if (s.kind !== 'eval.fid' || (s.outcome !== 'ran' && s.outcome !== 'cached')) continue;
    const m = s.metrics;
    if (typeof m.fid !== 'number') continue;
    const extra = (['sfid', 'is', 'precision', 'recall'] as const)
      .filter((k) => typeof m[k] === 'number')
      .map((k) => `${k} ${(m[k] as number).toFixed(3)}`)
      .join(', ');
    const digest = typeof m.weightsDigest === 'string' ? m.weightsDigest : '';
    const note = digest.startsWith('random-init')
      ? 'randomly initialised Inception: checks the wiring only, NOT comparable with published FID (give converted Inception weights to compare)'
      : digest
        ? `Inception weights ${digest.slice(0, 19)}…`
        : 'precomputed features/statistics';
    lines.push(`${s.id}: FID ${m.fid.toFixed(3)}${extra ? `, ${extra}` : ''} (${m.n_a as number} vs ${m.n_b as number} images; ${note})`);
  }
  return lines;
}
