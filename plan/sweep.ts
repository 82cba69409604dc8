/**
 * Sweep expansion: axes → arms, and substitution of an arm's values into stage configs.
 *
 *   grid  axes a: [1, 2], b: [x, y, z]  →  6 arms, first axis slowest:
 *         (1,x) (1,y) (1,z) (2,x) (2,y) (2,z)
 *   zip   axes a: [1, 2], b: [x, y]     →  2 arms: (1,x) (2,y)
 *
 * Pure: workflows may import it.
 */
import { canonicalJson, type Json } from '../core/canonical-json';
import { formatPath, parsePath, type PathSegment } from '../spec/path';
import { axisValues } from '../spec/sweep-values';
import type { SweepSpec } from '../spec/types';

/** One axis with its values and what it targets. */
export interface ExpandedAxis {
  readonly index: number;
  /** Canonical path text, the key in PlanArm.params. */
  readonly path: string;
  readonly stageId: string;
  /** 'config' ⇒ `rest` is the path inside the stage config; 'seed' ⇒ the stage seed. */
  readonly field: 'config' | 'seed';
  readonly rest: readonly PathSegment[];
  readonly values: readonly Json[];
  /** Whether the values came from a range (positions point at the range then). */
  readonly isRange: boolean;
  /** Short name for arm labels ('sigma'). */
  readonly label: string;
}

export interface ExpandedArm {
  readonly index: number;
  readonly label: string;
  readonly params: Readonly<Record<string, Json>>;
  /** Index into each axis's values, by axis index. */
  readonly valueIndex: readonly number[];
}

export function expandAxes(sweep: SweepSpec): { axes: ExpandedAxis[]; problems: { axis: number; message: string }[] } {
  const axes: ExpandedAxis[] = [];
  const problems: { axis: number; message: string }[] = [];
  sweep.axes.forEach((a, index) => {
    const parsed = parsePath(a.path);
    const segs = parsed.ok ? parsed.value.segments : [];
    const [root, stageId, field, ...rest] = segs;
    if (root !== 'stages' || typeof stageId !== 'string' || (field !== 'config' && field !== 'seed') || (field === 'seed') !== (rest.length === 0)) {
      problems.push({ axis: index, message: `sweep path "${a.path}" must look like stages.<id>.config.<key> or stages.<id>.seed` });
      return;
    }
    axes.push({ index, path: formatPath(segs), stageId, field, rest, values: axisValues(a), isRange: 'range' in a, label: '' });
  });
  // Label by the last path segment, or the whole path when two axes would share a label.
  const short = axes.map((a) => String(a.field === 'seed' ? `${a.stageId}.seed` : (a.rest[a.rest.length - 1] ?? a.path)));
  return {
    axes: axes.map((a, i) => ({ ...a, label: short.filter((s) => s === short[i]).length > 1 ? a.path : (short[i] ?? a.path) })),
    problems,
  };
}

/** Arms of a sweep; one unlabelled arm when there is no sweep. */
export function expandArms(mode: 'grid' | 'zip', axes: readonly ExpandedAxis[]): ExpandedArm[] {
  if (axes.length === 0) return [{ index: 0, label: '', params: {}, valueIndex: [] }];
  let combos: number[][];
  if (mode === 'zip') {
    const n = Math.min(...axes.map((a) => a.values.length));
    combos = Array.from({ length: n }, (_, i) => axes.map(() => i));
  } else {
    combos = [[]];
    for (const a of axes) combos = combos.flatMap((c) => a.values.map((_, i) => [...c, i]));
  }
  return combos.map((combo, index) => {
    const params: Record<string, Json> = {};
    const parts: string[] = [];
    axes.forEach((a, k) => {
      const v = a.values[combo[k] ?? 0] ?? null;
      params[a.path] = v;
      parts.push(`${a.label}=${typeof v === 'string' ? v : canonicalJson(v)}`);
    });
    return { index, label: parts.join(','), params, valueIndex: combo };
  });
}

/**
 * `root` with `value` at `path` (copy-on-write along the path). Missing object keys are created;
 * returns an error message when the path runs through a scalar or past the end of a list.
 */
export function setAtPath(root: Json, path: readonly PathSegment[], value: Json): { ok: true; value: Json } | { ok: false; error: string } {
  const [seg, ...rest] = path;
  if (seg === undefined) return { ok: true, value };
  if (Array.isArray(root)) {
    if (typeof seg !== 'number' || seg >= root.length) return { ok: false, error: `${formatPath([seg])} is not an element of a list of ${root.length}` };
    const inner = setAtPath(root[seg] ?? null, rest, value);
    if (!inner.ok) return inner;
    const copy = [...root];
    copy[seg] = inner.value;
    return { ok: true, value: copy };
  }
  if (root !== null && typeof root === 'object') {
    if (typeof seg !== 'string') return { ok: false, error: `[${seg}] indexes a mapping` };
    const inner = setAtPath(Object.hasOwn(root, seg) ? (root[seg] ?? null) : rest.length === 0 ? null : {}, rest, value);
    if (!inner.ok) return inner;
    return { ok: true, value: { ...root, [seg]: inner.value } };
  }
  return { ok: false, error: `cannot set ${formatPath(path)} inside ${root === null ? 'null' : typeof root}` };
}
