/**
 * Spec issue codes, and the conversion of zod issues into SpecIssues with YAML positions.
 * Pure (zod is only seen through the issues it returns).
 */
import { formatPath, type PathSegment } from './path';
import { didYouMean } from './suggest';
import type { SourceMap, SpecIssue } from './types';
import { keysOf, schemaAt, type Walkable } from './zod-walk';

/** Every SpecIssue.code the loader and the planner emit. */
export const SPEC_ISSUE_CODES = [
  'YAML_SYNTAX', // the text is not YAML
  'FILE_UNREADABLE', // loadSpecFile could not read the file
  'DUPLICATE_KEY', // a key repeated in one mapping
  'DUPLICATE_STAGE_ID', // two stages with one id
  'UNKNOWN_KEY', // a key the schema does not define (message suggests the closest one)
  'MISSING_KEY', // a required key is absent
  'INVALID_TYPE', // a value of the wrong type
  'INVALID_VALUE', // a value of the right type that is out of range / not allowed
  'UNKNOWN_STAGE_KIND', // `kind` not in the catalog
  'CONFIG_INVALID', // a stage config rejected by its kind's schema (also per sweep arm)
  'SWEEP_INVALID', // a sweep path that names nothing, zip axes of unequal length, too many arms
  'OVERRIDE_INVALID', // a `--set` argument that cannot be parsed or names no place in the spec
  'DANGLING_INPUT', // an input referencing an unknown stage or an output its producer does not declare
  'INPUT_MISSING', // a required input of the stage kind is not wired
  'UNKNOWN_INPUT', // an input name the stage kind does not take
  'CYCLE', // stages that (transitively) feed themselves
  'UNSAFE_PLACEHOLDER', // a command placeholder inside code a shell or interpreter parses (sh -c, python -c, node -e…)
  'SPEC_TOO_LARGE', // aliases expanding beyond MAX_YAML_ALIASES (an alias bomb), or a plan too large to travel to Temporal
] as const;
export type SpecIssueCode = (typeof SPEC_ISSUE_CODES)[number];

export function issueAt(sourceMap: SourceMap, code: SpecIssueCode, path: readonly PathSegment[], message: string, part: 'key' | 'value' = 'value'): SpecIssue {
  const p = formatPath(path);
  return { code, path: p, message, ...sourceMap.locate(p, part) };
}

/** The subset of a zod v4 issue we read. */
export interface ZodIssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
  readonly values?: readonly unknown[];
  readonly expected?: string;
  /** A custom issue may name its own SpecIssueCode as params.specCode (e.g. UNSAFE_PLACEHOLDER). */
  readonly params?: Readonly<Record<string, unknown>>;
}

function ownCode(iss: ZodIssueLike): SpecIssueCode | undefined {
  const c = iss.params?.specCode;
  return typeof c === 'string' && (SPEC_ISSUE_CODES as readonly string[]).includes(c) ? (c as SpecIssueCode) : undefined;
}

export interface ZodIssueContext {
  /** Where the validated value sits in the spec. */
  readonly base: readonly PathSegment[];
  /** The value that was validated (to tell "missing" from "wrong type"). */
  readonly input: unknown;
  /** The schema that was applied (for the keys an object allows). */
  readonly schema: Walkable;
  readonly sourceMap: SourceMap;
  /** Code for every issue (e.g. CONFIG_INVALID inside stage configs) instead of one per zod code. */
  readonly code?: SpecIssueCode;
  /** Appended to every message, e.g. ' (sweep arm sigma=0.1)'. */
  readonly suffix?: string;
}

export function fromZodIssues(issues: readonly ZodIssueLike[], ctx: ZodIssueContext): SpecIssue[] {
  const out: SpecIssue[] = [];
  const sfx = ctx.suffix ?? '';
  for (const iss of issues) {
    const rel = iss.path.filter((s): s is string | number => typeof s !== 'symbol');
    const path = [...ctx.base, ...rel];
    if (iss.code === 'unrecognized_keys') {
      const allowed = keysOf(schemaAt(ctx.schema, rel));
      for (const key of iss.keys ?? []) {
        const hint = didYouMean(key, allowed) || (allowed.length > 0 ? ` (allowed: ${allowed.join(', ')})` : '');
        out.push(issueAt(ctx.sourceMap, ctx.code ?? 'UNKNOWN_KEY', [...path, key], `unknown key "${key}"${hint}${sfx}`, 'key'));
      }
    } else if (iss.code === 'invalid_type' && rel.length > 0 && valueAt(ctx.input, rel) === undefined) {
      const last = rel[rel.length - 1];
      const message = `missing required key "${String(last)}"${sfx}`;
      // The path names the missing key; the position is its parent's (the key is not in the file).
      const at = ctx.sourceMap.locate(formatPath(path.slice(0, -1)));
      out.push({ code: ctx.code ?? 'MISSING_KEY', path: formatPath(path), message, ...at });
    } else {
      const value = valueAt(ctx.input, rel);
      let message = iss.message.replace(/^Invalid input: /, '').replace(/^Invalid option: /, '');
      if (iss.code === 'invalid_type') message = `${message.replace(/, received .*$/, '')}, got ${describe(value)}`;
      if (iss.code === 'invalid_value' && typeof value === 'string' && iss.values?.every((v) => typeof v === 'string')) {
        message += didYouMean(value, iss.values as string[]);
      }
      const code = ownCode(iss) ?? ctx.code ?? (iss.code === 'invalid_type' ? 'INVALID_TYPE' : 'INVALID_VALUE');
      out.push(issueAt(ctx.sourceMap, code, path, message + sfx));
    }
  }
  return out;
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return `${typeof v} ${String(v)}`;
  return typeof v;
}
