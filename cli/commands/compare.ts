/**
 * `robustok compare <runA> <runB>`: what differs between two runs — per stage, the cache-key
 * material each recorded (config paths, input digests, version, seed) — and their metrics per arm,
 * side by side with the difference. Stage runs pair by id, else by the arms they serve; arms pair by
 * sweep label, else by index. Reads the store only.
 */
import { openStore } from '../../artifacts/open-store';
import type { Json } from '../../core/canonical-json';
import type { ArmSummary, RunRecord, StageRunRecord } from '../../core/run-record';
import { explainKeyChange } from '../../plan';
import { defaultStoreUri } from '../state-dir';
import { writeStdout } from '../write-stdout';
import { resolveRun } from '../run-history';

export interface StageDiff {
  readonly stageId: string;
  readonly a?: string;
  readonly b?: string;
  readonly outcomes: readonly [string | undefined, string | undefined];
  readonly sameKey: boolean;
  /** 'config.lr: 0.001 → 0.0003', 'input "data": digest … → …', …; empty when the keys are equal. */
  readonly changes: readonly string[];
}

export interface MetricRow {
  readonly metric: string;
  readonly a?: Json;
  readonly b?: Json;
  readonly delta?: number;
}

export interface ArmDiff {
  readonly label: string;
  readonly a?: number;
  readonly b?: number;
  readonly metrics: readonly MetricRow[];
}

function pairStages(a: readonly StageRunRecord[], b: readonly StageRunRecord[]): [StageRunRecord | undefined, StageRunRecord | undefined][] {
  const pairs: [StageRunRecord | undefined, StageRunRecord | undefined][] = [];
  const rest = new Set(b);
  const take = (s: StageRunRecord | undefined) => {
    if (s !== undefined) rest.delete(s);
    return s;
  };
  for (const s of a) {
    const same = [...rest].filter((t) => t.stageId === s.stageId);
    const match =
      same.find((t) => t.id === s.id) ??
      same.find((t) => t.arms[0] === s.arms[0]) ??
      (a.filter((x) => x.stageId === s.stageId).length === 1 && same.length === 1 ? same[0] : undefined);
    pairs.push([s, take(match)]);
  }
  for (const t of b) if (rest.has(t)) pairs.push([undefined, t]);
  return pairs;
}

export function diffStages(ra: RunRecord, rb: RunRecord): StageDiff[] {
  return pairStages(ra.stages, rb.stages).map(([a, b]) => {
    const stageId = a?.stageId ?? b?.stageId ?? '?';
    const sameKey = a?.key !== undefined && a.key === b?.key;
    let changes: string[] = [];
    if (a === undefined || b === undefined) changes = [`only in run ${a === undefined ? rb.runId : ra.runId}`];
    else if (!sameKey) {
      const missing = [a.material === undefined ? `A (${a.outcome})` : undefined, b.material === undefined ? `B (${b.outcome})` : undefined].filter(
        (x) => x !== undefined,
      );
      // A stage skipped before its cache lookup has no key: there is nothing to diff on that side.
      changes =
        missing.length === 0 && a.material !== undefined && b.material !== undefined
          ? explainKeyChange(a.material, b.material)
          : [`no key in ${missing.join(' and ')}: the stage never reached its cache lookup there`];
    }
    return { stageId, a: a?.id, b: b?.id, outcomes: [a?.outcome, b?.outcome], sameKey, changes };
  });
}

function pairArms(a: readonly ArmSummary[], b: readonly ArmSummary[]): [ArmSummary | undefined, ArmSummary | undefined][] {
  const byLabel = a.every((x) => b.some((y) => y.label === x.label)) && b.every((y) => a.some((x) => x.label === y.label));
  const pairs: [ArmSummary | undefined, ArmSummary | undefined][] = [];
  const rest = new Set(b);
  for (const x of a) {
    const y = [...rest].find((t) => (byLabel ? t.label === x.label : t.index === x.index));
    if (y !== undefined) rest.delete(y);
    pairs.push([x, y]);
  }
  for (const y of rest) pairs.push([undefined, y]);
  return pairs;
}

export function diffMetrics(ra: RunRecord, rb: RunRecord): ArmDiff[] {
  return pairArms(ra.arms, rb.arms).map(([a, b]) => {
    const names = [...new Set([...Object.keys(a?.metrics ?? {}), ...Object.keys(b?.metrics ?? {})])].sort();
    const metrics = names.map((metric): MetricRow => {
      const va = a?.metrics[metric];
      const vb = b?.metrics[metric];
      const delta = typeof va === 'number' && typeof vb === 'number' ? vb - va : undefined;
      return { metric, a: va, b: vb, delta };
    });
    const label = a?.label ?? b?.label ?? '';
    return { label: label === '' ? `arm ${a?.index ?? b?.index ?? 0}` : label, a: a?.index, b: b?.index, metrics };
  });
}

function show(v: Json | undefined): string {
  if (v === undefined) return '—';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 24 ? `${s.slice(0, 21)}…` : s;
}

function showDelta(r: MetricRow): string {
  if (r.delta === undefined) return r.a !== undefined && r.b !== undefined && JSON.stringify(r.a) !== JSON.stringify(r.b) ? 'differs' : '';
  if (r.delta === 0) return '0';
  const rel = typeof r.a === 'number' && r.a !== 0 ? ` (${((100 * r.delta) / Math.abs(r.a)).toFixed(1)}%)` : '';
  return `${r.delta > 0 ? '+' : ''}${r.delta.toPrecision(4)}${rel}`;
}

export async function compareCommand(runA: string, runB: string, o: { json?: boolean; store?: string }): Promise<number> {
  const store = openStore(o.store ?? defaultStoreUri());
  const [a, b] = [await resolveRun(store, runA), await resolveRun(store, runB)];
  const stages = diffStages(a, b);
  const arms = diffMetrics(a, b);
  if (o.json) {
    await writeStdout(
      `${JSON.stringify({ a: { runId: a.runId, name: a.name, outcome: a.outcome }, b: { runId: b.runId, name: b.name, outcome: b.outcome }, stages, arms }, null, 2)}\n`,
    );
    return 0;
  }
  console.log(`A ${a.runId} (${a.name}, ${a.outcome})\nB ${b.runId} (${b.name}, ${b.outcome})\n\nstages:`);
  for (const s of stages) {
    const name = s.a === s.b || s.b === undefined ? (s.a ?? '?') : s.a === undefined ? s.b : `${s.a} ↔ ${s.b}`;
    const outcome = s.outcomes[0] === s.outcomes[1] ? (s.outcomes[0] ?? '') : `${s.outcomes[0] ?? '—'} → ${s.outcomes[1] ?? '—'}`;
    if (s.sameKey) console.log(`  ${name}: same key (${outcome})`);
    else console.log([`  ${name}: differs (${outcome})`, ...s.changes.map((c) => `    - ${c}`)].join('\n'));
  }
  console.log('\nmetrics:');
  for (const arm of arms) {
    const rows = arm.metrics.filter((r) => typeof r.a === 'number' || typeof r.b === 'number' || r.delta !== undefined);
    console.log(`  ${arm.label}${arm.a === undefined || arm.b === undefined ? ` (only in ${arm.a === undefined ? 'B' : 'A'})` : ''}`);
    if (rows.length === 0) {
      console.log('    (no numeric metrics)');
      continue;
    }
    const w = Math.max(...rows.map((r) => r.metric.length), 6);
    console.log(`    ${'metric'.padEnd(w)}  ${'A'.padStart(12)}  ${'B'.padStart(12)}  Δ (B − A)`);
    for (const r of rows) console.log(`    ${r.metric.padEnd(w)}  ${show(r.a).padStart(12)}  ${show(r.b).padStart(12)}  ${showDelta(r)}`);
  }
  return 0;
}
