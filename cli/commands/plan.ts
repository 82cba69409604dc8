/** `robustok plan <spec>`: every stage run × arm with `cached | will run` and its cache key. */
import { openStore } from '../../artifacts/open-store';
import { cacheStatus } from '../cache-status';
import { loadPlan, reportIssues } from '../load-plan';
import { defaultStoreUri } from '../state-dir';

export async function planCommand(file: string, o: { set: string[]; json?: boolean; store?: string }): Promise<number> {
  const planned = await loadPlan(file, o.set);
  if (!planned.ok) return reportIssues(planned.issues, o.json === true);
  const { plan } = planned;
  const status = await cacheStatus(plan, openStore(o.store ?? defaultStoreUri()));
  const rows = plan.runs.map((r) => {
    const s = status.get(r.id);
    return {
      id: r.id,
      stage: r.stageId,
      kind: r.kind,
      arms: r.arms.map((i) => plan.arms[i]?.label ?? String(i)),
      shared: r.arms.length > 1,
      status: s?.state ?? 'will run',
      key: s?.key,
      why: s?.state === 'will run' || s?.state === 'running' ? s.why : undefined,
      queue: r.queue,
    };
  });
  if (o.json) {
    console.log(JSON.stringify({ name: plan.name, arms: plan.arms, runs: rows }, null, 2));
    return 0;
  }
  console.log(`pipeline '${plan.name}': ${plan.runs.length} stage runs, ${plan.arms.length} arm(s)`);
  for (const r of rows) {
    const armText = plan.arms.length <= 1 ? '' : r.shared ? `  [shared by ${r.arms.length} arms]` : `  [${r.arms.join(' | ')}]`;
    const icon = r.status === 'cached' ? '●' : r.status === 'running' ? '◐' : '○';
    const detail = r.status === 'running' ? `  (${r.why ?? ''})` : '';
    console.log(
      `  ${icon} ${r.id.padEnd(24)} ${r.status.padEnd(9)} ${r.key ? r.key.slice(0, 16) : '(key after upstream)'.padEnd(16)}  ${r.queue}${armText}${detail}`,
    );
  }
  const count = (st: string) => rows.filter((r) => r.status === st).length;
  console.log(`${count('cached')} cached, ${count('running')} running, ${count('will run')} will run`);
  return 0;
}
