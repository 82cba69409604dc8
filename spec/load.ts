/**
 * loadSpecText: YAML text → validated Spec with every default resolved, or every problem found,
 * each as a SpecIssue with its line:column. Pure (no file access: see load-file.ts).
 *
 *   parse YAML ─► apply --set overrides ─► check shape (zod) ─► check each stage's kind and config
 *   (with its kind's schema) ─► check sweep paths against those schemas ─► resolve defaults
 *
 * Stages may be a map keyed by id or a list of objects with `id`; issue paths address stages by
 * id in both forms ('stages.train.config.lr').
 *
 * Sweeps come in two equivalent forms; a range is {start, stop, step} with stop included:
 *   sweep:                                      sweep:
 *     grid:            # or zip:                  mode: grid          # or zip (default grid)
 *       stages.a.config.sigma: [0.1, 0.2]         axes:
 *       stages.b.seed: {start: 1, stop: 3, step: 1} - {path: stages.a.config.sigma, values: [0.1, 0.2]}
 *                                                   - {path: stages.b.seed, range: {start: 1, stop: 3, step: 1}}
 * A sweep path is stages.<id>.config.<path in the kind's config> or stages.<id>.seed.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { Json } from '../core/canonical-json';
import { err, ok, type Result } from '../core/result';
import type { StageCatalog, StageDescriptor } from '../stages/descriptor';
import { durationMs } from './duration';
import { fromZodIssues, issueAt, type SpecIssueCode } from './issues';
import { applyOverrides, type AddedKey } from './overrides';
import { formatPath, parsePath, type PathSegment } from './path';
import type { defaultsSchema } from './schema';
import { BUILTIN_RETRY, BUILTIN_TIMEOUTS, DEFAULT_QUEUE, stageBodySchema, stageItemSchema, sweepAxesSchema, sweepMapSchema, topLevelSchema } from './schema';
import { YamlSourceMap, OVERRIDE_FILE } from './source-map';
import { closest, didYouMean } from './suggest';
import { rangeCount, type RangeSpec } from './sweep-values';
import {
  API_VERSION,
  type LoadedSpec,
  type RetrySpec,
  type Spec,
  type SpecIssue,
  type StageSpec,
  type SweepAxis,
  type SweepSpec,
  type TimeoutSpec,
} from './types';
import type { Walkable } from './zod-walk';
import { isFreeFormMap, keysOf, schemaAt } from './zod-walk';

/**
 * Alias expansions a spec may use (the yaml library's default). A few nested anchors can otherwise
 * expand into gigabytes (a "billion laughs" alias bomb); real specs use a handful.
 */
export const MAX_YAML_ALIASES = 100;

/** A grid larger than this is refused: split the sweep (Temporal caps pending work per execution). */
export const MAX_SWEEP_ARMS = 10_000;

type Defaults = NonNullable<ReturnType<typeof defaultsSchema.parse>>;
type StageBody = ReturnType<typeof stageBodySchema.parse>;

interface CheckedStage {
  readonly id: string;
  readonly body: StageBody | undefined;
  readonly descriptor: StageDescriptor | undefined;
  readonly config: Json | undefined;
}

/** Validates a spec given as text. `file` is used in positions only; `overrides` are `--set` arguments. */
export function loadSpecText(text: string, file: string, catalog: StageCatalog, overrides: readonly string[] = []): Result<LoadedSpec, SpecIssue[]> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, keepSourceTokens: true });
  if (doc.errors.length > 0) {
    return err(
      doc.errors.map((e) => {
        const p = lineCounter.linePos(e.pos[0]);
        return { code: 'YAML_SYNTAX', path: '', message: e.message.split('\n')[0] ?? e.message, file, line: p.line, column: p.col };
      }),
    );
  }
  const sourceMap = new YamlSourceMap(doc, lineCounter, file);
  const added: AddedKey[] = [];
  const issues: SpecIssue[] = [...duplicateKeys(doc, sourceMap), ...applyOverrides(doc, overrides, sourceMap, added)];
  const at = (code: SpecIssueCode, path: readonly PathSegment[], message: string, part: 'key' | 'value' = 'value') =>
    issues.push(issueAt(sourceMap, code, path, message, part));

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (e) {
    // The yaml library throws a ReferenceError once expansions pass the limit; anything else is a bug.
    if (!(e instanceof ReferenceError)) throw e;
    return err([aliasBomb(doc, sourceMap)]);
  }
  if (raw === null || raw === undefined || typeof raw !== 'object' || Array.isArray(raw)) {
    at('INVALID_TYPE', [], `a spec is a mapping with apiVersion: ${API_VERSION}, name and stages`);
    return err(sortIssues(issues));
  }
  const top = raw as Record<string, unknown>;
  const topParsed = topLevelSchema.safeParse(top);
  if (!topParsed.success) issues.push(...fromZodIssues(topParsed.error.issues, { base: [], input: top, schema: topLevelSchema, sourceMap }));

  const stages = checkStages(top.stages, catalog, sourceMap, issues);
  issues.push(...checkAddedKeys(added, overrides, stages, top));
  const sweep = top.sweep === undefined ? undefined : checkSweep(top.sweep, stages, sourceMap, issues);

  if (issues.length > 0 || !topParsed.success) return err(sortIssues(issues));
  const t = topParsed.data;
  const defaults: Defaults = t.defaults ?? {};
  const resolved = stages.map((s) => resolveStage(s, defaults, sourceMap, issues));
  if (issues.length > 0) return err(sortIssues(issues));
  const spec: Spec = {
    apiVersion: API_VERSION,
    name: t.name,
    stages: resolved.filter((s): s is StageSpec => s !== undefined),
    sweep,
    failurePolicy: t.failurePolicy ?? 'failFast',
    concurrency: t.concurrency ?? {},
  };
  return ok({ spec, sourceMap });
}

/** The issue for aliases expanding past MAX_YAML_ALIASES, placed at the first alias. */
function aliasBomb(doc: Document, sm: YamlSourceMap): SpecIssue {
  let first: unknown;
  visit(doc, {
    Alias(_, node) {
      first = node;
      return visit.BREAK;
    },
  });
  const where = isAlias(first) ? sm.positionOf(first) : sm.locate('', 'value');
  return {
    code: 'SPEC_TOO_LARGE',
    path: '',
    message: `YAML aliases (*name) expand to more than ${MAX_YAML_ALIASES} copies: nested anchors can multiply a spec into gigabytes (an "alias bomb"); write the values out or use fewer nested aliases`,
    ...where,
  };
}

/** Spec file issues in file order, then `--set` issues in argument order. */
function sortIssues(issues: SpecIssue[]): SpecIssue[] {
  const rank = (i: SpecIssue) => (i.file === OVERRIDE_FILE ? 1 : 0);
  return issues
    .map((i, n) => ({ i, n }))
    .sort((a, b) => rank(a.i) - rank(b.i) || a.i.line - b.i.line || a.i.column - b.i.column || a.n - b.n)
    .map(({ i }) => i);
}

/** YAML allows repeated keys only as an error; we report them ourselves so stage ids get their own code. */
function duplicateKeys(doc: Document, sm: YamlSourceMap): SpecIssue[] {
  const out: SpecIssue[] = [];
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key !== undefined && seen.has(key)) {
          const stage = path.length === 1 && path[0] === 'stages';
          out.push({
            code: stage ? 'DUPLICATE_STAGE_ID' : 'DUPLICATE_KEY',
            path: formatPath([...path, key]),
            message: stage ? `stage id "${key}" is used twice` : `key "${key}" appears twice in this mapping`,
            ...sm.positionOf(pair.key),
          });
        }
        if (key !== undefined) seen.add(key);
        walk(pair.value, key === undefined ? path : [...path, key]);
      }
    } else if (isSeq(node)) node.items.forEach((it, i) => walk(it, [...path, i]));
  };
  walk(doc.contents, []);
  return out;
}

function checkStages(rawStages: unknown, catalog: StageCatalog, sm: YamlSourceMap, issues: SpecIssue[]): CheckedStage[] {
  const at = (code: SpecIssueCode, path: readonly PathSegment[], message: string, part: 'key' | 'value' = 'value') =>
    issues.push(issueAt(sm, code, path, message, part));
  const entries: { base: PathSegment[]; id: string | undefined; raw: unknown; listForm: boolean }[] = [];
  if (rawStages === undefined) return []; // the top-level schema reports the missing key
  if (rawStages === null) {
    at('MISSING_KEY', ['stages'], 'a spec needs `stages`: a map of stage id → stage, or a list of stages with `id`');
    return [];
  }
  if (Array.isArray(rawStages)) {
    const seen = new Map<string, number>();
    rawStages.forEach((item, i) => {
      const id = isRecord(item) && typeof item.id === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(item.id) ? item.id : undefined;
      if (id !== undefined && seen.has(id)) {
        const seq = sm.document.get('stages', true);
        const idNode = isSeq(seq) && isMap(seq.items[i]) ? seq.items[i].get('id', true) : undefined;
        issues.push({
          code: 'DUPLICATE_STAGE_ID',
          path: formatPath(['stages', i, 'id']),
          message: `stage id "${id}" is used twice (first at stages[${seen.get(id) ?? 0}])`,
          ...sm.positionOf(idNode),
        });
        entries.push({ base: ['stages', i], id: undefined, raw: item, listForm: true });
        return;
      }
      if (id !== undefined) seen.set(id, i);
      entries.push({ base: id === undefined ? ['stages', i] : ['stages', id], id, raw: item, listForm: true });
    });
  } else if (isRecord(rawStages)) {
    for (const [id, body] of Object.entries(rawStages)) {
      const valid = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(id);
      if (!valid) at('INVALID_VALUE', ['stages', id], `stage id "${id}" must start with a letter or _ and use letters, digits, _ and -`, 'key');
      entries.push({ base: ['stages', id], id: valid ? id : undefined, raw: body, listForm: false });
    }
  } else {
    at('INVALID_TYPE', ['stages'], '`stages` must be a map of stage id → stage, or a list of stages with `id`');
    return [];
  }
  if (entries.length === 0) at('INVALID_VALUE', ['stages'], 'a spec needs at least one stage');

  const out: CheckedStage[] = [];
  for (const e of entries) {
    const schema = e.listForm ? stageItemSchema : stageBodySchema;
    const parsed = schema.safeParse(e.raw);
    if (!parsed.success) issues.push(...fromZodIssues(parsed.error.issues, { base: e.base, input: e.raw, schema, sourceMap: sm }));
    const r = isRecord(e.raw) ? e.raw : {};
    let descriptor: StageDescriptor | undefined;
    let config: Json | undefined;
    if (typeof r.kind === 'string') {
      descriptor = catalog.get(r.kind);
      if (!descriptor) {
        const known = catalog.kinds();
        at('UNKNOWN_STAGE_KIND', [...e.base, 'kind'], `unknown stage kind "${r.kind}"${didYouMean(r.kind, known)}; known kinds: ${known.join(', ')}`);
      } else {
        const cfgIn = r.config ?? {};
        const cfg = descriptor.configSchema.safeParse(cfgIn);
        if (cfg.success) config = cfg.data as Json;
        else
          issues.push(
            ...fromZodIssues(cfg.error.issues, {
              base: [...e.base, 'config'],
              input: cfgIn,
              schema: descriptor.configSchema,
              sourceMap: sm,
              code: 'CONFIG_INVALID',
              suffix: ` (in a "${descriptor.kind}" config)`,
            }),
          );
      }
    }
    if (e.id !== undefined) out.push({ id: e.id, body: parsed.success ? parsed.data : undefined, descriptor, config });
  }
  return out;
}

/**
 * `--set` may change anything the file holds and add keys the schema names (a wrong name is then
 * UNKNOWN_KEY), but not invent an entry of a free-form map (params, env, inputs, outputs,
 * concurrency…): there any key validates, so a misspelt `--set …params.lrr=…` would be added
 * silently and change nothing the user meant. Sweep keys are exempt: they are paths, checked on their own.
 */
function checkAddedKeys(added: readonly AddedKey[], args: readonly string[], stages: readonly CheckedStage[], top: Record<string, unknown>): SpecIssue[] {
  const out: SpecIssue[] = [];
  for (const a of added) {
    const parent = a.path.slice(0, -1);
    if (a.path[0] === 'sweep') continue;
    let schema: Walkable | undefined = topLevelSchema;
    let rel: readonly PathSegment[] = parent;
    if (a.path[0] === 'stages' && a.path.length > 2) {
      const stage = stages.find((s) => s.id === a.path[1]);
      if (a.path[2] === 'config') [schema, rel] = [stage?.descriptor?.configSchema, parent.slice(3)];
      else [schema, rel] = [stageBodySchema, parent.slice(2)];
    }
    if (schema === undefined || !isFreeFormMap(schemaAt(schema, rel))) continue;
    const key = String(a.path[a.path.length - 1]);
    const has = Object.keys(valueAtPath(top, parent) ?? {}).filter((k) => k !== key);
    out.push({
      code: 'OVERRIDE_INVALID',
      path: formatPath(a.path),
      message: `--set ${args[a.arg] ?? ''}: ${formatPath(parent)} has no "${key}"${didYouMean(key, has)} (it has: ${has.join(', ') || 'nothing'}); --set changes what the spec declares: add new entries in the file`,
      file: OVERRIDE_FILE,
      line: a.arg + 1,
      column: a.offset + 1,
    });
  }
  return out;
}

/** The mapping at `path` in the raw document (stages addressed by id in both forms), if it is one. */
function valueAtPath(top: Record<string, unknown>, path: readonly PathSegment[]): Record<string, unknown> | undefined {
  let cur: unknown = top;
  for (const [i, seg] of path.entries()) {
    if (i === 1 && path[0] === 'stages' && Array.isArray(cur)) cur = (cur as unknown[]).find((s) => isRecord(s) && s.id === seg);
    else cur = isRecord(cur) || Array.isArray(cur) ? (cur as Record<string | number, unknown>)[seg] : undefined;
  }
  return isRecord(cur) ? cur : undefined;
}

function resolveStage(s: CheckedStage, d: Defaults, sm: YamlSourceMap, issues: SpecIssue[]): StageSpec | undefined {
  if (!s.body || s.config === undefined) return undefined;
  const b = s.body;
  const retry: RetrySpec = { ...BUILTIN_RETRY, ...defined(d.retry ?? {}), ...defined(b.retry ?? {}) };
  const timeouts: TimeoutSpec = { ...BUILTIN_TIMEOUTS, ...defined(d.timeouts ?? {}), ...defined(b.timeouts ?? {}) };
  if ((durationMs(retry.maximumInterval) ?? 0) < (durationMs(retry.initialInterval) ?? 0)) {
    const where = b.retry?.maximumInterval !== undefined || b.retry?.initialInterval !== undefined ? ['stages', s.id, 'retry'] : ['defaults', 'retry'];
    issues.push(
      issueAt(sm, 'INVALID_VALUE', where, `retry.maximumInterval (${retry.maximumInterval}) is shorter than retry.initialInterval (${retry.initialInterval})`),
    );
  }
  return {
    id: s.id,
    kind: b.kind,
    config: s.config,
    inputs: b.inputs ?? {},
    queue: b.queue ?? d.queue ?? DEFAULT_QUEUE,
    // Per name: a stage asking only gpus keeps the defaults' memory.
    resources: { ...defined(d.resources ?? {}), ...defined(b.resources ?? {}) },
    retry,
    timeouts,
    checkpointEvery: b.checkpointEvery ?? 0,
    deterministic: b.deterministic ?? true,
    seed: b.seed ?? 0,
  };
}

function checkSweep(raw: unknown, stages: readonly CheckedStage[], sm: YamlSourceMap, issues: SpecIssue[]): SweepSpec | undefined {
  const at = (code: SpecIssueCode, path: readonly PathSegment[], message: string, part: 'key' | 'value' = 'value') =>
    issues.push(issueAt(sm, code, path, message, part));
  if (!isRecord(raw)) {
    at('INVALID_TYPE', ['sweep'], 'sweep must be a mapping: {grid: {path: values}}, {zip: …} or {mode, axes: [...]}');
    return undefined;
  }
  // Normalise both forms to {mode, axes}; `where` says how each axis is addressed in the file.
  let mode: 'grid' | 'zip';
  const axes: SweepAxis[] = [];
  const where: { path: PathSegment[]; pathPart: 'key' | 'value'; values: PathSegment[] }[] = [];
  if ('axes' in raw || 'mode' in raw) {
    const p = sweepAxesSchema.safeParse(raw);
    if (!p.success) {
      issues.push(...fromZodIssues(p.error.issues, { base: ['sweep'], input: raw, schema: sweepAxesSchema, sourceMap: sm }));
      return undefined;
    }
    mode = p.data.mode ?? 'grid';
    let bad = false;
    p.data.axes.forEach((a, i) => {
      const base: PathSegment[] = ['sweep', 'axes', i];
      if ((a.values === undefined) === (a.range === undefined)) {
        at('SWEEP_INVALID', base, 'a sweep axis has either `values` or `range`, not both or neither');
        bad = true;
      } else {
        axes.push(a.values !== undefined ? { path: a.path, values: a.values } : { path: a.path, range: a.range as RangeSpec });
        where.push({ path: [...base, 'path'], pathPart: 'value', values: [...base, a.values !== undefined ? 'values' : 'range'] });
      }
    });
    if (bad) return undefined;
  } else {
    const p = sweepMapSchema.safeParse(raw);
    if (!p.success) {
      issues.push(...fromZodIssues(p.error.issues, { base: ['sweep'], input: raw, schema: sweepMapSchema, sourceMap: sm }));
      return undefined;
    }
    if ((p.data.grid === undefined) === (p.data.zip === undefined)) {
      at('SWEEP_INVALID', ['sweep'], 'sweep takes exactly one of `grid: {path: values}` and `zip: {path: values}`');
      return undefined;
    }
    mode = p.data.grid !== undefined ? 'grid' : 'zip';
    const entries = Object.entries(p.data.grid ?? p.data.zip ?? {});
    if (entries.length === 0) {
      at('SWEEP_INVALID', ['sweep', mode], 'a sweep needs at least one axis');
      return undefined;
    }
    entries.forEach(([path, v], i) => {
      axes.push(Array.isArray(v) ? { path, values: v } : { path, range: v });
      const entry: PathSegment[] = ['sweep', mode, path];
      where.push({ path: entry, pathPart: 'key', values: entry });
      // The planner reports per-arm problems against the canonical form: map it back to this entry.
      sm.alias(['sweep', 'axes', i, 'path'], entry, true);
      sm.alias(['sweep', 'axes', i, 'values'], entry);
      sm.alias(['sweep', 'axes', i, 'range'], entry);
      sm.alias(['sweep', 'axes', i], entry);
    });
    sm.alias(['sweep', 'mode'], ['sweep', mode], true);
  }

  const byId = new Map(stages.map((s) => [s.id, s]));
  const seenPaths = new Map<string, number>();
  const lengths: number[] = [];
  axes.forEach((axis, i) => {
    const w = where[i];
    if (!w) return;
    if ('range' in axis) {
      const n = rangeCount(axis.range);
      if (!n.ok) at('SWEEP_INVALID', w.values, `range: ${n.error}`);
      lengths.push(n.ok ? n.value : 0);
    } else lengths.push(axis.values.length);
    const canonical = checkSweepPath(axis.path, byId, (message) => at('SWEEP_INVALID', w.path, message, w.pathPart));
    if (canonical !== undefined) {
      const first = seenPaths.get(canonical);
      if (first !== undefined) at('SWEEP_INVALID', w.path, `sweep path ${canonical} is already swept by axis ${first + 1}`, w.pathPart);
      else seenPaths.set(canonical, i);
    }
  });
  if (mode === 'zip' && new Set(lengths).size > 1) {
    at('SWEEP_INVALID', ['sweep', 'mode'], `zip needs axes of equal length; got ${axes.map((a, i) => `${a.path}: ${lengths[i] ?? 0}`).join(', ')}`, 'key');
  }
  const arms = mode === 'grid' ? lengths.reduce((a, b) => a * b, 1) : (lengths[0] ?? 0);
  if (arms > MAX_SWEEP_ARMS) at('SWEEP_INVALID', ['sweep'], `the sweep has ${arms} arms, more than ${MAX_SWEEP_ARMS}: split it into several specs`);
  return { mode, axes };
}

/**
 * A sweep path must be stages.<id>.config.<…> (a place the kind's config schema defines) or
 * stages.<id>.seed. Returns the path in canonical text, or undefined after reporting.
 */
function checkSweepPath(text: string, byId: ReadonlyMap<string, CheckedStage>, report: (m: string) => void): string | undefined {
  const parsed = parsePath(text);
  if (!parsed.ok) {
    report(`sweep path "${text}": ${parsed.error.message}`);
    return undefined;
  }
  const segs = parsed.value.segments;
  const [root, id, field, ...rest] = segs;
  if (root !== 'stages' || typeof id !== 'string' || !((field === 'config' && rest.length > 0) || (field === 'seed' && rest.length === 0))) {
    report(`sweep path "${text}" must look like stages.<id>.config.<key> or stages.<id>.seed`);
    return undefined;
  }
  const stage = byId.get(id);
  if (!stage) {
    report(`sweep path "${text}" names no stage "${id}"${didYouMean(id, byId.keys())}`);
    return undefined;
  }
  if (field === 'config' && stage.descriptor) {
    const schema = stage.descriptor.configSchema as unknown as Walkable;
    for (let n = 1; n <= rest.length; n++) {
      if (schemaAt(schema, rest.slice(0, n)) === undefined) {
        const seg = rest[n - 1];
        const keys = keysOf(schemaAt(schema, rest.slice(0, n - 1)));
        const hint = typeof seg === 'string' ? closest(seg, keys) : undefined;
        report(
          `sweep path "${text}": a "${stage.descriptor.kind}" config has no ${formatPath(rest.slice(0, n))}` +
            (hint !== undefined ? ` (did you mean ${formatPath([...rest.slice(0, n - 1), hint])}?)` : keys.length > 0 ? ` (it has: ${keys.join(', ')})` : ''),
        );
        return undefined;
      }
    }
  }
  return formatPath(segs);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
