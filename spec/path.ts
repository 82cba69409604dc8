/**
 * Spec paths: how issues, sweeps and `--set` overrides name a place in a spec.
 *   stages.train.config.lr     sweep.axes[0].values[2]     sweep.grid["stages.a.config.k"]
 * Identifier-like keys are joined with '.', indices are '[n]', any other key is a quoted '["…"]'.
 * Pure (no imports): plan/ and workflows may use it.
 */

export type PathSegment = string | number;

export interface ParsedPath {
  readonly segments: readonly PathSegment[];
  /** 0-based offset of each segment in the text, for errors that point into a `--set` argument. */
  readonly offsets: readonly number[];
}

export interface PathError {
  readonly message: string;
  /** 0-based offset in the text where the problem is. */
  readonly offset: number;
}

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** Renders segments as a path string; the inverse of parsePath. */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (SIMPLE_KEY.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/** Parses 'a.b[0]["x.y"]'; also accepts a bare number segment after a dot ('argv.1' = argv[1]). */
export function parsePath(text: string): { ok: true; value: ParsedPath } | { ok: false; error: PathError } {
  const segments: PathSegment[] = [];
  const offsets: number[] = [];
  let i = 0;
  let expectKey = true;
  if (text.length === 0) return { ok: false, error: { message: 'empty path', offset: 0 } };
  while (i < text.length) {
    const c = text[i];
    if (c === '[') {
      const close = text.indexOf(']', i);
      if (text[i + 1] === '"') {
        const end = findClosingQuote(text, i + 2);
        if (end < 0 || text[end + 1] !== ']') return { ok: false, error: { message: 'unterminated ["…"] key', offset: i } };
        try {
          segments.push(JSON.parse(text.slice(i + 1, end + 1)) as string);
        } catch {
          return { ok: false, error: { message: 'invalid quoted key', offset: i + 1 } };
        }
        offsets.push(i);
        i = end + 2;
      } else {
        if (close < 0) return { ok: false, error: { message: 'missing ]', offset: i } };
        const inner = text.slice(i + 1, close);
        if (!/^\d+$/.test(inner)) return { ok: false, error: { message: `index must be a non-negative integer, got "${inner}"`, offset: i + 1 } };
        segments.push(Number(inner));
        offsets.push(i);
        i = close + 1;
      }
      expectKey = false;
    } else if (c === '.') {
      if (expectKey) return { ok: false, error: { message: 'empty key', offset: i } };
      i++;
      expectKey = true;
      if (i >= text.length) return { ok: false, error: { message: 'path ends with "."', offset: i - 1 } };
    } else {
      if (!expectKey) return { ok: false, error: { message: `expected "." or "[" before "${c ?? ''}"`, offset: i } };
      let j = i;
      while (j < text.length && text[j] !== '.' && text[j] !== '[') j++;
      const key = text.slice(i, j);
      segments.push(/^\d+$/.test(key) && segments.length > 0 ? Number(key) : key);
      offsets.push(i);
      i = j;
      expectKey = false;
    }
  }
  if (expectKey) return { ok: false, error: { message: 'path ends with "."', offset: text.length - 1 } };
  return { ok: true, value: { segments, offsets } };
}

function findClosingQuote(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return -1;
}

export function pathStartsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}
