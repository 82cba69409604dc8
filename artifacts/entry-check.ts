/**
 * Output entries read back from the store (manifests, checkpoint entries, the workflow's copies of
 * them) are untrusted data: anyone who can write to the bucket can edit them. Before a worker writes
 * anything from an entry onto its disk, the entry must prove harmless — every file path relative,
 * normalised and confined to the destination, every digest a sha256 — otherwise it is corrupt.
 */
import { digestJson, isSha256Hex } from '../core/digest';
import { PipelineError } from '../core/errors';
import type { OutputEntry } from './manifest';

/** Far beyond any real layout; bounds the work of checking and the length of messages. */
const MAX_PATH = 1024;
const MAX_SEGMENT = 255;

const show = (p: string) => JSON.stringify(p.length > 120 ? `${p.slice(0, 120)}…` : p);

/**
 * Why `p` cannot be a file path inside a directory entry, or undefined when it can. Rules: a
 * '/'-separated relative path in normal form (no '', '.' or '..' segment), no leading '/', no
 * Windows drive or UNC form, no backslash (a separator elsewhere, and on Linux a way to smuggle
 * one past a reader on another OS), no control characters (NUL truncates paths in C; newlines
 * forge log lines).
 */
export function pathProblem(p: unknown): string | undefined {
  if (typeof p !== 'string') return `path ${JSON.stringify(p)} is not a string`;
  if (p.length === 0) return 'path is empty';
  if (p.length > MAX_PATH) return `path ${show(p)} is longer than ${MAX_PATH} characters`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) return `path ${show(p)} contains a control character`;
  if (p.includes('\\')) return `path ${show(p)} contains a backslash`;
  if (p.startsWith('/')) return `path ${show(p)} is absolute`;
  if (/^[A-Za-z]:/.test(p)) return `path ${show(p)} starts with a drive letter`;
  for (const seg of p.split('/')) {
    if (seg === '..') return `path ${show(p)} climbs out of its directory ('..')`;
    if (seg === '' || seg === '.') return `path ${show(p)} is not normalised (empty or '.' segment)`;
    if (seg.length > MAX_SEGMENT) return `path ${show(p)} has a segment longer than ${MAX_SEGMENT} characters`;
  }
  return undefined;
}

/** A producer's file name (only its extension is used): one plain segment. */
function fileNameProblem(n: unknown): string | undefined {
  if (n === undefined) return undefined;
  if (typeof n !== 'string' || n.includes('/')) return `fileName ${JSON.stringify(n)} is not a plain file name`;
  const p = pathProblem(n);
  return p === undefined ? undefined : `fileName: ${p}`;
}

function blobProblem(b: { digest?: unknown; bytes?: unknown }): string | undefined {
  if (typeof b.digest !== 'string' || !isSha256Hex(b.digest)) return `digest ${JSON.stringify(b.digest)} is not a sha256 hex digest`;
  if (typeof b.bytes !== 'number' || !Number.isSafeInteger(b.bytes) || b.bytes < 0) return `size ${JSON.stringify(b.bytes)} is not a byte count`;
  return undefined;
}

/** Why `entry` is not a well-formed, safe output entry, or undefined when it is. */
export function entryProblem(entry: unknown): string | undefined {
  if (typeof entry !== 'object' || entry === null) return 'entry is not an object';
  const e = entry as Record<string, unknown>;
  if (e.type === 'file') return blobProblem(e) ?? fileNameProblem(e.fileName);
  if (e.type !== 'dir') return `entry type ${JSON.stringify(e.type)} is neither 'file' nor 'dir'`;
  if (!Array.isArray(e.files)) return 'directory entry has no file list';
  const seen = new Set<string>();
  const dirs = new Set<string>();
  for (const f of e.files as unknown[]) {
    if (typeof f !== 'object' || f === null) return 'directory entry lists a non-object';
    const file = f as Record<string, unknown>;
    const problem = pathProblem(file.path) ?? blobProblem(file);
    if (problem !== undefined) return problem;
    const p = file.path as string;
    if (seen.has(p)) return `path ${show(p)} is listed twice`;
    seen.add(p);
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  // A name cannot be both a file and a directory: the second write would fail half way.
  for (const p of seen) if (dirs.has(p)) return `path ${show(p)} is both a file and a directory`;
  if (typeof e.digest !== 'string' || digestJson(e.files) !== e.digest) return `directory digest ${JSON.stringify(e.digest)} does not match its file list`;
  return undefined;
}

/** Throws ENTRY_CORRUPT (never retried: the same bytes come back every time) naming `where`. */
export function assertSafeEntry(entry: unknown, where: string): asserts entry is OutputEntry {
  const problem = entryProblem(entry);
  if (problem !== undefined) {
    throw new PipelineError(
      'ENTRY_CORRUPT',
      `${where} is corrupt or unsafe: ${problem}; nothing was written. Delete it from the store so the producing stage reruns`,
    );
  }
}
