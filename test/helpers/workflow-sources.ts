/**
 * The identity of the workflow code that saved replay histories were recorded against: sha256 over
 * every file under workflows/ (sorted relative path, NUL, contents). Recorded beside the histories
 * by record-histories.ts and recomputed by test/unit/workflows/replay.test.ts.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const HISTORIES_DIR = path.join(ROOT, 'test', 'fixtures', 'histories');
export const RECORDED_AGAINST = path.join(HISTORIES_DIR, 'recorded-against.json');
export const RECORD_COMMAND = 'npx tsx test/helpers/record-histories.ts';

export interface RecordedAgainst {
  /** sha256 of workflows/ (workflowSourcesDigest) when the histories were recorded. */
  readonly workflowsSha256: string;
  /** The files it covered, so a failing check can say which ones differ. */
  readonly files: Readonly<Record<string, string>>;
  readonly recordedAt: string;
  readonly command: string;
}

function files(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(...files(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

/** Per-file sha256 and the digest of them all, for workflows/ as it is on disk now. */
export function workflowSources(root = ROOT): { digest: string; files: Record<string, string> } {
  const dir = path.join(root, 'workflows');
  const perFile: Record<string, string> = {};
  const all = createHash('sha256');
  for (const f of files(dir).sort()) {
    const bytes = readFileSync(path.join(dir, f));
    perFile[`workflows/${f}`] = createHash('sha256').update(bytes).digest('hex');
    all.update(`workflows/${f}\0`).update(bytes).update('\0');
  }
  return { digest: all.digest('hex'), files: perFile };
}
