/**
 * `robustok schedule create|list|pause|unpause|trigger|delete`: runs of a spec (or a sweep) later,
 * on a cron/calendar or an interval, through Temporal Schedules — the server fires them, so nothing
 * of ours has to stay up but the workers.
 *
 * What a firing re-plans: nothing on the client side. `create` validates the spec, applies `--set`
 * and expands the sweep exactly as `run` does, and the schedule stores that plan as the input of the
 * same pipeline workflow `run` starts. The spec file lives on the creator's machine, not in the
 * cluster, and a schedule whose meaning changed with every edit of a local file would not be
 * reproducible; `create --replace` re-plans on purpose. Cache keys are still computed at firing time
 * (from the plan and the digests of the inputs then), so a firing re-runs exactly the stages whose
 * inputs changed and every `deterministic: false` stage — the knob for "fetch fresh data nightly";
 * a fully deterministic pipeline is all cache hits after its first firing.
 */
import {
  Client,
  MONTHS,
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOverlapPolicy,
  type ScheduleSpec,
} from '@temporalio/client';
import { openStore } from '../../artifacts/open-store';
import { writeRunPlan } from '../../artifacts/run-plans';
import type { PipelineInput } from '../../workflows/pipeline';
import { loadPlan, reportIssues } from '../load-plan';
import { CONTROL_QUEUE, queuePrefix, withQueuePrefix } from '../queues';
import { defaultStoreUri } from '../state-dir';
import { connectClient, temporalSettingsFromEnv } from '../temporal-settings';
import { writeStdout } from '../write-stdout';

export interface ScheduleConnectOptions {
  readonly address?: string;
  readonly namespace?: string;
  readonly queuePrefix?: string;
  readonly json?: boolean;
}

export interface ScheduleCreateOptions extends ScheduleConnectOptions {
  readonly set: string[];
  readonly id?: string;
  readonly cron: string[];
  readonly every: string[];
  readonly at?: string;
  readonly timezone?: string;
  readonly overlap?: string;
  readonly paused?: boolean;
  readonly note?: string;
  readonly replace?: boolean;
  readonly store?: string;
}

/** The memo marks our schedules (list shows only those) and says where each came from. */
interface ScheduleMemo {
  readonly robustok: 1;
  readonly pipeline: string;
  readonly specFile: string;
  readonly sets: string[];
  readonly store: string;
  readonly queuePrefix: string;
  readonly arms: number;
  readonly stageRuns: number;
  readonly createdAt: string;
  /** As given: the server turns cron expressions into calendars, which read worse. */
  readonly when: string[];
}

const OVERLAP: Record<string, ScheduleOverlapPolicy> = { skip: 'SKIP', 'buffer-one': 'BUFFER_ONE', 'buffer-all': 'BUFFER_ALL', 'allow-all': 'ALLOW_ALL' };
const overlapName = (p: string | undefined) => Object.entries(OVERLAP).find(([, v]) => v === p)?.[0] ?? p?.toLowerCase();

class UsageError extends Error {}

export function parseOverlap(name: string | undefined): ScheduleOverlapPolicy {
  if (name === undefined) return 'SKIP';
  const p = OVERLAP[name];
  if (p === undefined) throw new UsageError(`--overlap must be one of ${Object.keys(OVERLAP).join(', ')}, got '${name}'`);
  return p;
}

/** `--cron`, `--every` and `--at` as a Temporal schedule spec; `--at` alone means one firing. */
export function scheduleSpec(o: Pick<ScheduleCreateOptions, 'cron' | 'every' | 'at' | 'timezone'>, now = new Date()): { spec: ScheduleSpec; once: boolean } {
  const spec: { cronExpressions?: string[]; intervals?: { every: string }[]; calendars?: ScheduleSpec['calendars']; timezone?: string } = {};
  if (o.cron.length > 0) spec.cronExpressions = o.cron;
  if (o.every.length > 0) {
    for (const e of o.every)
      if (!/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(e.trim())) throw new UsageError(`--every takes a duration such as 30m, 6h or 1d, got '${e}'`);
    spec.intervals = o.every.map((every) => ({ every: every.trim() }));
  }
  let once = false;
  if (o.at !== undefined) {
    if (o.cron.length > 0 || o.every.length > 0) throw new UsageError('--at (one firing) cannot be combined with --cron or --every');
    const t = new Date(o.at);
    if (Number.isNaN(t.getTime())) throw new UsageError(`--at takes an ISO time such as 2026-12-03T03:00:00Z, got '${o.at}'`);
    if (t.getTime() <= now.getTime()) throw new UsageError(`--at ${o.at} is in the past`);
    // An exact calendar time in UTC, fired once (remainingActions 1).
    const month = MONTHS[t.getUTCMonth()];
    if (month === undefined) throw new UsageError(`--at ${o.at}: no month`);
    spec.calendars = [
      { year: t.getUTCFullYear(), month, dayOfMonth: t.getUTCDate(), hour: t.getUTCHours(), minute: t.getUTCMinutes(), second: t.getUTCSeconds() },
    ];
    once = true;
  }
  if (spec.cronExpressions === undefined && spec.intervals === undefined && spec.calendars === undefined) {
    throw new UsageError('say when: --cron "0 3 * * *", --every 6h or --at 2026-12-03T03:00:00Z (schedule trigger fires one at once)');
  }
  if (o.timezone !== undefined && o.at === undefined) spec.timezone = o.timezone;
  return { spec, once };
}

async function withClient<T>(o: ScheduleConnectOptions, fn: (client: Client) => Promise<T>): Promise<T> {
  const settings = temporalSettingsFromEnv(process.env, o);
  if (settings.address === undefined) {
    throw new UsageError(
      'schedules live in a Temporal server that stays up: set TEMPORAL_ADDRESS or --address (robustok server start runs a local one), and run `robustok worker` processes against it',
    );
  }
  const connection = await connectClient({ ...settings, address: settings.address });
  try {
    return await fn(new Client({ connection, namespace: settings.namespace }));
  } finally {
    await connection.close();
  }
}

/** Usage errors exit 2 with their message; a missing schedule exits 1; anything else goes to the CLI's error report. */
async function guarded(fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(e.message);
      return 2;
    }
    if (e instanceof ScheduleNotFoundError) {
      console.error(`no schedule '${e.scheduleId}' (robustok schedule list shows them)`);
      return 1;
    }
    throw e;
  }
}

export function scheduleCreateCommand(file: string, o: ScheduleCreateOptions): Promise<number> {
  return guarded(async () => {
    const { spec, once } = scheduleSpec(o);
    const overlap = parseOverlap(o.overlap);
    const planned = await loadPlan(file, o.set);
    if (!planned.ok) return reportIssues(planned.issues, o.json === true);
    const prefix = queuePrefix(o.queuePrefix);
    const plan = withQueuePrefix(planned.plan, prefix);
    const id = o.id ?? `${prefix}${plan.name}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) throw new UsageError(`schedule id '${id}' must be letters, digits, '.', '_' or '-'`);
    const store = openStore(o.store ?? defaultStoreUri());
    // Wrong store credentials surface now, not at 3 a.m. in every firing.
    await store.stat('records/.preflight');
    if (!store.uri.startsWith('s3://')) console.error(`note: store ${store.uri} is local to this host: only workers on this host can use it`);
    const controlQueue = prefix + CONTROL_QUEUE;
    const createdAt = new Date().toISOString();
    // Temporal appends the firing's scheduled time to the workflow id (run-<id>-<time>), so every
    // firing is its own workflow. runId and startedAt are stored values, the same for every firing:
    // see the README (Schedules) for what that means for run records. `runIdFromWorkflowId` asks the
    // workflow to take both from the execution instead; today's workflow ignores it (a proposed
    // change to workflows/pipeline.ts reads it), so schedules created now get per-firing ids then.
    const input: PipelineInput = { plan, runId: id, storeUri: store.uri, controlQueue, startedAt: createdAt, runIdFromWorkflowId: true };
    const when = [
      ...(spec.cronExpressions ?? []).map((c) => `cron ${c}${o.timezone ? ` (${o.timezone})` : ''}`),
      ...(spec.intervals ?? []).map((i) => `every ${String(i.every)}`),
      ...(once ? [`once at ${o.at ?? ''}`] : []),
    ];
    const memo: ScheduleMemo = {
      robustok: 1,
      when,
      pipeline: plan.name,
      specFile: file,
      sets: o.set,
      store: store.uri,
      queuePrefix: prefix,
      arms: plan.arms.length,
      stageRuns: plan.runs.length,
      createdAt,
    };
    const options: ScheduleOptions = {
      scheduleId: id,
      spec,
      action: { type: 'startWorkflow', workflowType: 'pipelineWorkflow', taskQueue: controlQueue, workflowId: `run-${id}`, args: [input] },
      policies: { overlap, catchupWindow: '1 day' },
      state: { paused: o.paused === true, note: o.note, ...(once ? { remainingActions: 1 } : {}) },
      memo: { ...memo },
    };
    await writeRunPlan(store, id, plan);
    await withClient(o, async (client) => {
      try {
        await client.schedule.create(options);
      } catch (e) {
        if (!(e instanceof ScheduleAlreadyRunning)) throw e;
        if (o.replace !== true) throw new UsageError(`schedule '${id}' exists: --replace re-plans it from the spec, or pick another --id`);
        await client.schedule.getHandle(id).update((prev) => ({
          ...prev,
          spec: options.spec,
          action: options.action,
          policies: options.policies,
          state: { paused: o.paused === true, note: o.note, ...(once ? { remainingActions: 1 } : {}) },
        }));
      }
    });
    if (o.json)
      await writeStdout(
        `${JSON.stringify({ id, pipeline: plan.name, when, overlap: overlapName(overlap), paused: o.paused === true, stageRuns: plan.runs.length, arms: plan.arms.length, store: store.uri }, null, 2)}\n`,
      );
    else
      console.log(
        `schedule ${id}: ${plan.name} (${plan.runs.length} stage runs, ${plan.arms.length} arm(s)) ${when.join(', ')}, overlap ${overlapName(overlap)}${o.paused ? ', paused' : ''}; store ${store.uri}`,
      );
    return 0;
  });
}

export interface ScheduleInfo {
  readonly id: string;
  readonly pipeline: string;
  readonly when: string[];
  readonly overlap: string | undefined;
  readonly paused: boolean;
  readonly note: string | undefined;
  readonly nextRuns: string[];
  readonly recent: { scheduledAt: string; workflowId: string }[];
  readonly store: string;
  readonly specFile: string;
  readonly sets: string[];
}

function describeSchedule(id: string, d: ScheduleDescription): ScheduleInfo {
  const memo = (d.memo ?? {}) as Partial<ScheduleMemo>;
  const when = memo.when ?? [
    ...(d.spec.intervals ?? []).map((i) => `every ${formatMs(Number(i.every))}`),
    ...(d.spec.calendars ?? []).map((c) => `calendar ${JSON.stringify(c)}`),
  ];
  return {
    id,
    pipeline: memo.pipeline ?? '?',
    when,
    overlap: overlapName(d.policies.overlap),
    paused: d.state.paused,
    note: d.state.note,
    nextRuns: d.info.nextActionTimes.map((t) => t.toISOString()),
    recent: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
    store: memo.store ?? '?',
    specFile: memo.specFile ?? '?',
    sets: memo.sets ?? [],
  };
}

function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  for (const [unit, n] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const)
    if (ms % n === 0) return `${ms / n}${unit}`;
  return `${ms}ms`;
}

/** Our schedules (memo marker) of this queue prefix. Listing is eventually consistent on the server. */
async function ourSchedules(client: Client, prefix: string): Promise<ScheduleInfo[]> {
  const out: ScheduleInfo[] = [];
  for await (const s of client.schedule.list()) {
    const memo = (s.memo ?? {}) as Partial<ScheduleMemo>;
    if (memo.robustok !== 1 || (memo.queuePrefix ?? '') !== prefix) continue;
    let d: ScheduleDescription;
    try {
      d = await client.schedule.getHandle(s.scheduleId).describe();
    } catch (e) {
      // Deleted between the listing and now.
      if (e instanceof ScheduleNotFoundError) continue;
      throw e;
    }
    out.push(describeSchedule(s.scheduleId, d));
  }
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

export function scheduleListCommand(o: ScheduleConnectOptions): Promise<number> {
  return guarded(() =>
    withClient(o, async (client) => {
      const all = await ourSchedules(client, queuePrefix(o.queuePrefix));
      if (o.json) {
        await writeStdout(`${JSON.stringify({ schedules: all }, null, 2)}\n`);
        return 0;
      }
      if (all.length === 0) {
        console.log('no schedules');
        return 0;
      }
      for (const s of all) {
        console.log(
          `${s.id}  ${s.pipeline}  ${s.when.join(', ')}  overlap ${s.overlap ?? '?'}  ${s.paused ? `PAUSED${s.note ? ` (${s.note})` : ''}` : 'active'}`,
        );
        if (!s.paused && s.nextRuns[0] !== undefined) console.log(`  next: ${s.nextRuns[0]}`);
        for (const r of s.recent.slice(-3)) console.log(`  fired ${r.scheduledAt}: ${r.workflowId}`);
      }
      return 0;
    }),
  );
}

export function scheduleStateCommand(action: 'pause' | 'unpause' | 'delete', id: string, o: ScheduleConnectOptions & { note?: string }): Promise<number> {
  return guarded(() =>
    withClient(o, async (client) => {
      const h = client.schedule.getHandle(id);
      if (action === 'pause') await h.pause(o.note ?? 'paused with robustok schedule pause');
      else if (action === 'unpause') await h.unpause(o.note ?? 'unpaused with robustok schedule unpause');
      else await h.delete();
      const done = { pause: 'paused', unpause: 'unpaused', delete: 'deleted' }[action];
      if (o.json) await writeStdout(`${JSON.stringify({ id, [done]: true })}\n`);
      else console.log(`schedule ${id} ${done}${action === 'delete' ? ' (runs it started keep running)' : ''}`);
      return 0;
    }),
  );
}

/** Fires one run now and prints its workflow id (once the server has recorded the action). */
export function scheduleTriggerCommand(id: string, o: ScheduleConnectOptions & { overlap?: string }): Promise<number> {
  return guarded(() =>
    withClient(o, async (client) => {
      const h = client.schedule.getHandle(id);
      const before = new Set((await h.describe()).info.recentActions.map((a) => a.action.workflow.workflowId));
      await h.trigger(o.overlap === undefined ? undefined : parseOverlap(o.overlap));
      let workflowId: string | undefined;
      for (const deadline = Date.now() + 10_000; workflowId === undefined && Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 200));
        workflowId = (await h.describe()).info.recentActions.map((a) => a.action.workflow.workflowId).find((w) => !before.has(w));
      }
      if (o.json) await writeStdout(`${JSON.stringify({ id, triggered: true, workflowId: workflowId ?? null })}\n`);
      else
        console.log(
          workflowId === undefined
            ? `schedule ${id} triggered (the overlap policy may have skipped or buffered it: robustok schedule list)`
            : `schedule ${id} triggered: workflow ${workflowId}`,
        );
      return 0;
    }),
  );
}
