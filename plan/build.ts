/**
 * buildPlan: a validated Spec → the concrete stage runs to execute, in topological order, with
 * sweep arms expanded and identical runs merged. Pure and deterministic (same spec ⇒ same plan,
 * byte for byte), so the workflow can import it and `robustok plan` can print it.
 *
 * Worked example — `data` shared, `train` swept over lr ∈ {0.1, 0.2}, `eval` over k ∈ {1, 2, 3}:
 *
 *   data ──► train ──► eval          arms (grid): lr=0.1,k=1  lr=0.1,k=2 … lr=0.2,k=3   (6)
 *
 *   runs: data            arms 0-5  (one run: config and inputs equal in every arm)
 *         train#1a2b3c4d  arms 0-2  (lr=0.1)
 *         train#5e6f7a8b  arms 3-5  (lr=0.2)
 *         eval#…          one run per arm (6): its config (k) and its producer differ
 *
 * Two arms share a run of a stage iff its structural key is equal: sha256 of {kind, version,
 * resolved config, seed, inputs: {name: {producer's structural key, output}}} — recursive, so a
 * run is shared only when its whole upstream is shared.
 *
 * Problems are returned as SpecIssues (never thrown): unknown kinds, dangling or missing inputs,
 * cycles (every stage on the cycle with its position), sweep values the kind's schema rejects.
 */
import type { Json } from '../core/canonical-json';
import { digestJson } from '../core/digest';
import { err, ok, type Result } from '../core/result';
import { formatPath, type PathSegment } from '../spec/path';
import { fromZodIssues } from '../spec/issues';
import { didYouMean } from '../spec/suggest';
import type { SourceMap, SourcePosition, Spec, SpecIssue, StageSpec } from '../spec/types';
import type { StageCatalog, StageDescriptor } from '../stages/descriptor';
import { findCycles, topoOrder, type Edge } from './graph';
import { expandArms, expandAxes, setAtPath, type ExpandedArm, type ExpandedAxis } from './sweep';
import type { Plan, PlannedInput, StageRun } from './types';

/** Positions for specs that did not come from a file (built in code). */
export const NO_SOURCE: SourceMap = { locate: () => ({ file: '<spec>', line: 0, column: 0 }) };

interface Ref {
  readonly producer: string;
  readonly output: string;
}

/** One stage in one arm, after substitution. */
interface ArmStage {
  readonly config: Json;
  readonly seed: number;
  structuralKey: string;
}

export function buildPlan(spec: Spec, catalog: StageCatalog, sourceMap: SourceMap = NO_SOURCE): Result<Plan, SpecIssue[]> {
  const issues = new IssueList(sourceMap);
  const stages = spec.stages;
  const indexOf = new Map(stages.map((s, i) => [s.id, i]));

  // 1. Kinds.
  const descriptors = stages.map((s) => {
    const d = catalog.get(s.kind);
    if (!d) issues.add('UNKNOWN_STAGE_KIND', ['stages', s.id, 'kind'], `unknown stage kind "${s.kind}"${didYouMean(s.kind, catalog.kinds())}`);
    return d;
  });

  // 2. Arms, and each stage's config and seed in each arm.
  const { axes, problems } = spec.sweep ? expandAxes(spec.sweep) : { axes: [], problems: [] };
  for (const p of problems) issues.add('SWEEP_INVALID', ['sweep', 'axes', p.axis, 'path'], p.message);
  for (const a of axes)
    if (!indexOf.has(a.stageId))
      issues.add(
        'SWEEP_INVALID',
        ['sweep', 'axes', a.index, 'path'],
        `sweep path "${a.path}" names no stage "${a.stageId}"${didYouMean(a.stageId, indexOf.keys())}`,
      );
  if (spec.sweep?.mode === 'zip' && new Set(axes.map((a) => a.values.length)).size > 1) {
    issues.add('SWEEP_INVALID', ['sweep', 'mode'], `zip needs axes of equal length; got ${axes.map((a) => `${a.path}: ${a.values.length}`).join(', ')}`);
  }
  if (issues.size > 0) return err(issues.sorted());
  const arms = expandArms(spec.sweep?.mode ?? 'grid', axes);
  const memo = new Map<string, ReturnType<StageDescriptor['configSchema']['safeParse']>>();
  const perArm: ArmStage[][] = arms.map((arm) => stages.map((s, i) => resolveArmStage(s, descriptors[i], arm, axes, memo, issues)));

  // 3. Wiring, checked in every arm (a swept config may change a stage's outputs or inputs).
  const edges: Edge[] = [];
  const refs: Map<string, Ref>[] = stages.map(() => new Map<string, Ref>());
  stages.forEach((s, ci) => {
    for (const [name, ref] of Object.entries(s.inputs)) {
      const dot = ref.indexOf('.');
      const producer = ref.slice(0, dot);
      const output = ref.slice(dot + 1);
      const pi = indexOf.get(producer);
      if (dot < 0 || pi === undefined) {
        issues.add(
          'DANGLING_INPUT',
          ['stages', s.id, 'inputs', name],
          `input "${name}" of "${s.id}" references unknown stage "${producer}"${didYouMean(producer, indexOf.keys())}`,
        );
        continue;
      }
      edges.push({ producer: pi, consumer: ci });
      refs[ci]?.set(name, { producer, output });
    }
  });
  arms.forEach((arm, ai) => {
    stages.forEach((s, ci) => {
      const d = descriptors[ci];
      const cfg = perArm[ai]?.[ci]?.config;
      if (!d || cfg === undefined) return;
      for (const [name, r] of refs[ci] ?? []) {
        const pi = indexOf.get(r.producer) ?? -1;
        const pd = descriptors[pi];
        const pcfg = perArm[ai]?.[pi]?.config;
        if (!pd || pcfg === undefined) continue;
        const outs = pd.outputs(pcfg);
        if (!outs.includes(r.output)) {
          const has = outs.length === 0 ? 'it declares no outputs' : `it declares ${outs.join(', ')}`;
          issues.add(
            'DANGLING_INPUT',
            ['stages', s.id, 'inputs', name],
            `input "${name}" of "${s.id}" references output "${r.output}" that "${r.producer}" does not produce${didYouMean(r.output, outs)}; ${has}`,
          );
        }
      }
      for (const r of d.inputRefs?.(cfg) ?? []) {
        if (Object.hasOwn(s.inputs, r.name)) continue;
        const wired = Object.keys(s.inputs);
        issues.add(
          'INPUT_MISSING',
          ['stages', s.id, 'config', ...r.path],
          `"${s.id}" refers to input "${r.name}", which it does not wire${didYouMean(r.name, wired)} (inputs: ${wired.join(', ') || 'none'}); add it under inputs: {${r.name}: <stage>.<output>}`,
        );
      }
      const io = d.inputs(cfg);
      if (io.required !== 'any') {
        const given = Object.keys(s.inputs);
        const missing = io.required.filter((n) => !given.includes(n));
        if (missing.length > 0)
          issues.add(
            'INPUT_MISSING',
            ['stages', s.id, 'inputs'],
            `"${s.id}" (${s.kind}) needs input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}`,
          );
        const allowed = [...io.required, ...(io.optional ?? [])];
        for (const n of given) {
          if (!allowed.includes(n))
            issues.add(
              'UNKNOWN_INPUT',
              ['stages', s.id, 'inputs', n],
              `a "${s.kind}" stage takes no input "${n}"${didYouMean(n, allowed)}; it takes ${allowed.join(', ') || 'none'}`,
              'key',
            );
        }
      }
    });
  });

  // 4. Cycles: every stage on the cycle, with where it is.
  for (const cycle of findCycles(stages.length, edges)) {
    const ids = cycle.map((i) => stages[i]?.id ?? '?');
    const first = ids[0] ?? '?';
    const last = ids[ids.length - 1] ?? '?';
    // The input of the first stage that closes the cycle (it takes something from the last).
    const closing = [...(refs[cycle[0] ?? 0] ?? [])].find(([, r]) => r.producer === last)?.[0] ?? '';
    const where = (id: string) => at(sourceMap.locate(formatPath(['stages', id]), 'key'));
    const listing = [...ids, first].map((id, k) => (k < ids.length ? `${id} (${where(id)})` : id)).join(' → ');
    issues.add('CYCLE', ['stages', first, 'inputs', closing], `stages feed each other in a cycle: ${listing}; remove one of these inputs`);
  }
  if (issues.size > 0) return err(issues.sorted());

  // 5. Structural keys per arm, in topological order; equal keys of a stage ⇒ one run.
  const order = topoOrder(stages.length, edges);
  type Group = { stage: number; key: string; arms: number[]; config: Json; seed: number };
  const groups = new Map<string, Group>();
  arms.forEach((_, ai) => {
    const row = perArm[ai] ?? [];
    for (const i of order) {
      const s = stages[i];
      const d = descriptors[i];
      const st = row[i];
      if (!s || !d || !st) continue;
      const inputs: Record<string, { producer: string; output: string }> = {};
      for (const [name, r] of refs[i] ?? []) inputs[name] = { producer: row[indexOf.get(r.producer) ?? -1]?.structuralKey ?? '', output: r.output };
      st.structuralKey = digestJson({ kind: s.kind, version: d.version, config: st.config, seed: st.seed, inputs });
      const gk = `${s.id}\u0000${st.structuralKey}`;
      const g = groups.get(gk);
      if (g) g.arms.push(ai);
      else groups.set(gk, { stage: i, key: st.structuralKey, arms: [ai], config: st.config, seed: st.seed });
    }
  });

  // 6. Run ids: the stage id, or '<id>#<8 hex>' when arms split the stage (longer if 8 collide).
  const byStage = new Map<number, Group[]>();
  for (const g of groups.values()) byStage.set(g.stage, [...(byStage.get(g.stage) ?? []), g]);
  const runId = new Map<string, string>();
  for (const [i, gs] of byStage) {
    const id = stages[i]?.id ?? '';
    let len = 8;
    while (len < 64 && new Set(gs.map((g) => g.key.slice(0, len))).size < gs.length) len += 4;
    for (const g of gs) runId.set(`${id}\u0000${g.key}`, gs.length === 1 ? id : `${id}#${g.key.slice(0, len)}`);
  }

  const runs: StageRun[] = [];
  for (const i of order) {
    const s = stages[i];
    const d = descriptors[i];
    if (!s || !d) continue;
    const gs = [...(byStage.get(i) ?? [])].sort((a, b) => (a.arms[0] ?? 0) - (b.arms[0] ?? 0));
    for (const g of gs) {
      const row = perArm[g.arms[0] ?? 0] ?? [];
      const inputs: Record<string, PlannedInput> = {};
      for (const [name, r] of refs[i] ?? []) {
        const pk = row[indexOf.get(r.producer) ?? -1]?.structuralKey ?? '';
        inputs[name] = { run: runId.get(`${r.producer}\u0000${pk}`) ?? r.producer, output: r.output };
      }
      runs.push({
        id: runId.get(`${s.id}\u0000${g.key}`) ?? s.id,
        stageId: s.id,
        kind: s.kind,
        version: d.version,
        config: g.config,
        inputs,
        outputs: d.outputs(g.config),
        arms: g.arms,
        structuralKey: g.key,
        queue: s.queue,
        resources: s.resources,
        retry: s.retry,
        timeouts: s.timeouts,
        checkpointEvery: s.checkpointEvery,
        deterministic: s.deterministic,
        seed: g.seed,
      });
    }
  }
  return ok({
    name: spec.name,
    arms: arms.map((a) => ({ index: a.index, label: a.label, params: a.params })),
    runs,
    failurePolicy: spec.failurePolicy,
    concurrency: spec.concurrency,
  });
}

/** The stage's config and seed in one arm: sweep values substituted, config re-validated. */
function resolveArmStage(
  s: StageSpec,
  d: StageDescriptor | undefined,
  arm: ExpandedArm,
  axes: readonly ExpandedAxis[],
  memo: Map<string, ReturnType<StageDescriptor['configSchema']['safeParse']>>,
  issues: IssueList,
): ArmStage {
  let config: Json = s.config;
  let seed = s.seed;
  const mine = axes.filter((a) => a.stageId === s.id);
  const valuePath = (a: ExpandedAxis): PathSegment[] =>
    a.isRange ? ['sweep', 'axes', a.index, 'range'] : ['sweep', 'axes', a.index, 'values', arm.valueIndex[a.index] ?? 0];
  for (const a of mine) {
    const v = arm.params[a.path] ?? null;
    if (a.field === 'seed') {
      if (typeof v === 'number' && Number.isSafeInteger(v)) seed = v;
      else issues.add('SWEEP_INVALID', valuePath(a), `a seed must be an integer, got ${JSON.stringify(v)} (sweep arm ${arm.label})`);
      continue;
    }
    const next = setAtPath(config, a.rest, v);
    if (next.ok) config = next.value;
    else issues.add('SWEEP_INVALID', valuePath(a), `sweep path "${a.path}": ${next.error}`);
  }
  if (d && mine.some((a) => a.field === 'config')) {
    const memoKey = `${s.id}\u0000${JSON.stringify(config)}`;
    let parsed = memo.get(memoKey);
    if (!parsed) memo.set(memoKey, (parsed = d.configSchema.safeParse(config)));
    if (parsed.success) config = parsed.data as Json;
    else {
      for (const zi of parsed.error.issues) {
        const rel = zi.path.filter((p): p is string | number => typeof p !== 'symbol');
        // Blame the sweep value that put the bad value there, if one did.
        const culprit = mine.find((a) => a.field === 'config' && (startsWith(rel, a.rest) || startsWith(a.rest, rel)));
        const found = fromZodIssues([zi], {
          base: ['stages', s.id, 'config'],
          input: config,
          schema: d.configSchema,
          sourceMap: issues.sourceMap,
          code: 'CONFIG_INVALID',
          // Name only the culprit's value, so the same bad value in many arms is reported once.
          suffix: culprit ? ` (sweep value ${culprit.label}=${JSON.stringify(arm.params[culprit.path] ?? null)})` : ` (sweep arm ${arm.label})`,
        });
        for (const f of found) issues.push(culprit ? { ...f, ...issues.sourceMap.locate(formatPath(valuePath(culprit))) } : f);
      }
    }
  }
  return { config, seed, structuralKey: '' };
}

function startsWith(path: readonly PathSegment[], prefix: readonly PathSegment[]): boolean {
  return prefix.length <= path.length && prefix.every((s, i) => s === path[i]);
}

function at(p: SourcePosition): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
}

/** Issues deduplicated (the same problem in many arms is reported once), in source order. */
class IssueList {
  private readonly items = new Map<string, SpecIssue>();
  constructor(readonly sourceMap: SourceMap) {}

  add(code: string, path: readonly PathSegment[], message: string, part: 'key' | 'value' = 'value'): void {
    const p = formatPath(path);
    this.push({ code, path: p, message, ...this.sourceMap.locate(p, part) });
  }

  push(issue: SpecIssue): void {
    const k = `${issue.code}\u0000${issue.path}\u0000${issue.message}`;
    if (!this.items.has(k)) this.items.set(k, issue);
  }

  get size(): number {
    return this.items.size;
  }

  sorted(): SpecIssue[] {
    const rank = (i: SpecIssue) => (i.file === '<--set>' ? 1 : 0);
    return [...this.items.values()].sort((a, b) => rank(a) - rank(b) || a.line - b.line || a.column - b.column);
  }
}
