/** Human summaries of run records: one line per stage run, then one line per arm. */
import type { RunRecord, StageRunRecord } from '../core/run-record';

const ICON = { ran: '✔', cached: '●', failed: '✖', skipped: '–' } as const;

export function stageLine(s: StageRunRecord): string {
  const dur = s.outcome === 'ran' || s.outcome === 'failed' ? ` ${(s.durationMs / 1000).toFixed(1)} s` : '';
  const attempts = s.attempts > 1 ? ` (${s.attempts} attempts)` : '';
  const resumed = s.resumedFromStep !== undefined ? ` resumed from step ${s.resumedFromStep}` : '';
  const err =
    s.error && s.outcome === 'failed'
      ? `\n      ${s.error.code}: ${s.error.message.split('\n').join('\n      ')}`
      : s.error && s.outcome === 'skipped'
        ? ` (${s.error.message})`
        : '';
  const warn = (s.warnings ?? []).map((w) => `\n      warning: ${w}`).join('');
  return `  ${ICON[s.outcome]} ${s.id.padEnd(24)} ${s.outcome.padEnd(7)}${dur}${attempts}${resumed}${s.key ? `  ${s.key.slice(0, 12)}` : ''}${err}${warn}`;
}

/** `streamed`: the stage lines were already printed while the run progressed. */
export function printRecord(r: RunRecord, streamed = false): void {
  if (!streamed) for (const s of r.stages) console.log(stageLine(s));
  console.log(`run ${r.runId} (${r.name}): ${r.outcome}`);
  if (r.arms.length > 1) {
    console.log('arms:');
    for (const a of r.arms) {
      const metrics = Object.entries(a.metrics)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ');
      console.log(`  ${a.outcome === 'succeeded' ? '✔' : '✖'} ${a.label || `arm ${a.index}`} ${metrics}`);
    }
  }
  const count = (o: StageRunRecord['outcome']) => r.stages.filter((s) => s.outcome === o).length;
  console.log(`${count('ran')} ran, ${count('cached')} cached, ${count('failed')} failed, ${count('skipped')} skipped`);
  const failed = r.stages.find((s) => s.outcome === 'failed');
  if (failed !== undefined) console.log(`the failed attempt's log: robustok logs ${r.runId} ${failed.id}`);
}

/** The --json form of a run record: the fields users script against. */
export function recordJson(r: RunRecord) {
  return {
    runId: r.runId,
    name: r.name,
    outcome: r.outcome,
    stages: r.stages.map((s) => ({
      id: s.id,
      stage: s.stageId,
      arms: s.arms,
      kind: s.kind,
      key: s.key ?? null,
      outcome: s.outcome,
      attempts: s.attempts,
      durationMs: s.durationMs,
      outputs: s.outputs,
      metrics: s.metrics,
      error: s.error ?? null,
      warnings: s.warnings ?? [],
      resumedFromStep: s.resumedFromStep ?? null,
    })),
    arms: r.arms,
  };
}
