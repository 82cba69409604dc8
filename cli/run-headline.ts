/**
 * What a user looks for first after a run: which compute backend did the work (wasm is several times
 * slower than native TensorFlow, so it must not go unnoticed) and the FID, with whether its feature
 * network makes it comparable with published numbers at all.
 */
import { lookupManifest } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';
import type { RunRecord } from '../core/run-record';

interface BackendJson {
  readonly backend?: string;
  readonly package?: string;
  readonly packageVersion?: string | null;
  readonly cpu?: { readonly cores?: number };
  readonly gpu?: string | null;
  readonly intraOpThreads?: number;
}

function describeBackend(b: BackendJson): string {
  const pkg = b.package ? ` (${b.package}${b.packageVersion ? ` ${b.packageVersion}` : ''})` : '';
  const threads = b.intraOpThreads !== undefined ? `, ${b.intraOpThreads} threads` : '';
  const where = (b.gpu ? `, ${b.gpu}` : b.cpu?.cores ? `, ${b.cpu.cores} cores` : '') + threads;
  const slow = b.backend === 'wasm' || b.backend === 'cpu' ? ' — slower than native TensorFlow; `npm run native-tf` installs it' : '';
  return `${b.backend ?? 'unknown'}${pkg}${where}${slow}`;
}

/** The distinct backends recorded in the manifests of the stage runs that ran in this run. */
export async function backendsUsed(store: ArtifactStore, record: RunRecord): Promise<string[]> {
  const seen = new Set<string>();
  for (const s of record.stages) {
    if (s.outcome !== 'ran' || s.key === undefined) continue;
    const found = await lookupManifest(store, s.key, { verify: false }).catch(() => undefined);
    const b = found?.state === 'hit' ? (found.manifest.backend as BackendJson | undefined) : undefined;
    if (b && typeof b === 'object') seen.add(describeBackend(b));
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
