/**
 * The pipeline workflow: a deterministic interpreter of a Plan. It starts every stage run whose
 * producers have finished, within per-queue concurrency limits; each run is a cache lookup on the
 * control queue, then (on a miss) the stage runner on the run's own queue (cpu, gpu, …).
 *
 * Large sweeps: one workflow walks the merged DAG (so runs shared by arms execute once); pending
 * activities are bounded by the concurrency limits (≤ MAX_IN_FLIGHT overall, far below Temporal's
 * 2,000), and when Temporal suggests it (history growing toward 51,200 events) the workflow drains
 * in-flight runs and continues as new, carrying the finished results.
 */
import {
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  defineQuery,
  workflowInfo,
  ActivityFailure,
  ApplicationFailure,
} from '@temporalio/workflow';
import type { StageActivities } from '../activities/stage-activities';
import type { OutputRef, RunStageResult } from '../activities/stage-contract';
import { NON_RETRYABLE_CODES } from '../core/errors';
import type { ArmSummary, RunRecord, StageRunRecord } from '../core/run-record';
import type { Json } from '../core/canonical-json';
import type { Plan, StageRun } from '../plan/types';

export interface PipelineInput {
  readonly plan: Plan;
  readonly runId: string;
  /** Artifact store of the run; workers open it with their own credentials. */
  readonly storeUri: string;
  /** Queue of this workflow and of its bookkeeping activities (lookups, records). */
  readonly controlQueue: string;
  readonly startedAt: string;
  /** Results carried over a continue-as-new. */
  readonly carried?: Readonly<Record<string, StageRunRecord>>;
  /** Per-queue concurrency used when the plan sets none. */
  readonly defaultConcurrency?: number;
  /** History length at which to continue as new (default HISTORY_SOFT_LIMIT; tests lower it). */
  readonly historySoftLimit?: number;
  /**
   * Set by schedules, whose input is the same for every firing: the run id is then the workflow id
   * without its `run-` (Temporal makes it `run-<schedule id>-<firing time>`, unique per firing) and
   * the start time is the execution's. Frozen into the input before any continue-as-new.
   */
  readonly runIdFromWorkflowId?: boolean;
}

// No patched() needed: executions started before this change never carry the flag, so they take the
// unchanged path, and reading workflowInfo() records no command (replay.test.ts checks the old histories).
function perFiring(input: PipelineInput): PipelineInput {
  if (input.runIdFromWorkflowId !== true) return input;
  const info = workflowInfo();
  return { ...input, runId: info.workflowId.replace(/^run-/, ''), startedAt: info.startTime.toISOString(), runIdFromWorkflowId: false };
}

export const progressQuery = defineQuery<{ runId: string; stages: StageRunRecord[]; running: string[] }>('progress');

const MAX_IN_FLIGHT = 500;
/** Our own ceiling, below Temporal's 51,200-event limit, in case the server does not suggest it. */
const HISTORY_SOFT_LIMIT = 20_000;

/**
 * Cache lookups and run records are local activities: they run in this workflow's worker without a
 * server round trip per call, which is most of the time of a no-op re-run of a finished pipeline.
 */
function bookkeeping() {
  return proxyLocalActivities<StageActivities>({
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
  });
}

function runner(run: StageRun) {
  return proxyActivities<StageActivities>({
    taskQueue: run.queue,
    startToCloseTimeout: run.timeouts.startToClose,
    heartbeatTimeout: run.timeouts.heartbeat,
    retry: { ...run.retry, nonRetryableErrorTypes: [...NON_RETRYABLE_CODES] },
  });
}

function failureOf(e: unknown): { code: string; message: string; attempts?: number } {
  if (e instanceof ActivityFailure && e.cause instanceof ApplicationFailure) {
    const details = e.cause.details?.[0] as { attempt?: number } | undefined;
    return { code: e.cause.type ?? 'INTERNAL', message: e.cause.message, attempts: details?.attempt };
  }
  if (e instanceof ActivityFailure) return { code: 'ACTIVITY_FAILED', message: e.cause?.message ?? e.message };
  return { code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
}

export async function pipelineWorkflow(given: PipelineInput): Promise<RunRecord> {
  const input = perFiring(given);
  const { plan } = input;
  const results = new Map<string, StageRunRecord>(Object.entries(input.carried ?? {}));
  const running = new Set<string>();
  const byId = new Map(plan.runs.map((r) => [r.id, r]));
  const control = bookkeeping();
  let failedFast = false;
  const scopes = new Map<string, CancellationScope>();
  const inFlightByKey = new Map<string, Promise<RunStageResult>>();

  setHandler(progressQuery, () => ({ runId: input.runId, stages: [...results.values()], running: [...running] }));

  const limit = (queue: string) => plan.concurrency[queue] ?? input.defaultConcurrency ?? 8;
  const inFlightOn = (queue: string) => [...running].filter((id) => byId.get(id)?.queue === queue).length;

  const record = (run: StageRun, r: Omit<StageRunRecord, 'id' | 'stageId' | 'arms' | 'kind'>) =>
    results.set(run.id, { id: run.id, stageId: run.stageId, arms: run.arms, kind: run.kind, ...r });

  async function execute(run: StageRun): Promise<void> {
    const inputs: Record<string, OutputRef> = {};
    for (const [name, ref] of Object.entries(run.inputs)) {
      const out = results.get(ref.run)?.outputs[ref.output];
      if (out === undefined) throw new Error(`internal: input ${name} of ${run.id} is not available`);
      inputs[name] = out as OutputRef;
    }
    const startedMs = Date.now();
    let key: string | undefined;
    let material;
    try {
      const lookup = await control.lookupStage({ storeUri: input.storeUri, run, inputs });
      key = lookup.key;
      material = lookup.material;
      if (lookup.hit) {
        record(run, { key, outcome: 'cached', attempts: 0, durationMs: Date.now() - startedMs, outputs: lookup.outputs, metrics: lookup.metrics, material });
        return;
      }
      const warnings = lookup.warning === undefined ? undefined : [lookup.warning];
      // Single flight: another stage run of this workflow already computing the same key (identical
      // work) is joined instead of duplicated; its result counts as a cache hit here.
      const twin = run.deterministic ? inFlightByKey.get(key) : undefined;
      if (twin !== undefined) {
        const shared = await twin;
        record(run, { key, outcome: 'cached', attempts: 0, durationMs: Date.now() - startedMs, outputs: shared.outputs, metrics: shared.metrics, material });
        return;
      }
      // Each stage attempt runs in its own scope, so failFast can stop the others mid-stage.
      const scope = new CancellationScope();
      scopes.set(run.id, scope);
      const stageInput = { storeUri: input.storeUri, run, key, material, inputs, runId: input.runId };
      const pending = scope.run(() => runner(run).runStage(stageInput));
      if (run.deterministic) inFlightByKey.set(key, pending);
      const r = await pending.finally(() => {
        scopes.delete(run.id);
        if (key !== undefined) inFlightByKey.delete(key);
      });
      record(run, {
        key,
        outcome: 'ran',
        attempts: r.attempt,
        durationMs: Date.now() - startedMs,
        outputs: r.outputs,
        metrics: r.metrics,
        material,
        warnings,
        resumedFromStep: r.resumedFromStep,
      });
    } catch (e) {
      if (isCancellation(e) && failedFast) {
        record(run, {
          key,
          outcome: 'skipped',
          attempts: 0,
          durationMs: Date.now() - startedMs,
          outputs: {},
          metrics: {},
          material,
          error: { code: 'SKIPPED', message: 'stopped: another stage failed and failurePolicy is failFast' },
        });
        return;
      }
      const f = failureOf(e);
      record(run, {
        key,
        outcome: 'failed',
        attempts: f.attempts ?? 1,
        durationMs: Date.now() - startedMs,
        outputs: {},
        metrics: {},
        material,
        error: { code: f.code, message: f.message },
      });
      if (plan.failurePolicy === 'failFast' && !failedFast) {
        failedFast = true;
        // Stop the stages still running: their results would be thrown away anyway.
        for (const other of scopes.values()) other.cancel();
      }
    }
  }

  const state = (run: StageRun): 'done' | 'ready' | 'blocked' | 'skip' => {
    if (results.has(run.id) || running.has(run.id)) return 'done';
    const producers = Object.values(run.inputs).map((i) => results.get(i.run));
    if (producers.some((p) => p !== undefined && (p.outcome === 'failed' || p.outcome === 'skipped'))) return 'skip';
    return producers.every((p) => p !== undefined) ? 'ready' : 'blocked';
  };

  for (;;) {
    const wantsNewRun = workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historySoftLimit ?? HISTORY_SOFT_LIMIT);
    let progressed = false;
    for (const run of plan.runs) {
      const s = state(run);
      if (s === 'skip' || (s !== 'done' && failedFast)) {
        const why = failedFast ? 'an earlier stage failed and failurePolicy is failFast' : 'an upstream stage failed or was skipped';
        record(run, { key: undefined, outcome: 'skipped', attempts: 0, durationMs: 0, outputs: {}, metrics: {}, error: { code: 'SKIPPED', message: why } });
        progressed = true;
        continue;
      }
      if (s !== 'ready' || wantsNewRun) continue;
      if (running.size >= MAX_IN_FLIGHT || inFlightOn(run.queue) >= limit(run.queue)) continue;
      running.add(run.id);
      progressed = true;
      void execute(run).finally(() => running.delete(run.id));
    }
    if (results.size === plan.runs.length) break;
    if (wantsNewRun && running.size === 0) {
      await continueAsNew<typeof pipelineWorkflow>({ ...input, carried: Object.fromEntries(results) });
    }
    if (running.size === 0) {
      if (progressed) continue;
      throw ApplicationFailure.create({
        type: 'INTERNAL',
        nonRetryable: true,
        message: `plan ${plan.name} cannot progress: no run is ready and none is running`,
      });
    }
    const before = results.size;
    await condition(() => results.size > before);
  }

  const stages = plan.runs.map((r) => results.get(r.id)).filter((r): r is StageRunRecord => r !== undefined);
  const arms: ArmSummary[] = plan.arms.map((arm) => {
    const mine = stages.filter((s) => s.arms.includes(arm.index));
    const metrics: Record<string, Json> = {};
    for (const s of mine) for (const [k, v] of Object.entries(s.metrics)) metrics[`${s.stageId}.${k}`] = v;
    return { index: arm.index, label: arm.label, outcome: mine.every((s) => s.outcome === 'ran' || s.outcome === 'cached') ? 'succeeded' : 'failed', metrics };
  });
  const runRecord: RunRecord = {
    schema: 'robustok.dev/run-record/v1',
    runId: input.runId,
    name: plan.name,
    startedAt: input.startedAt,
    finishedAt: new Date(Date.now()).toISOString(),
    outcome: stages.every((s) => s.outcome === 'ran' || s.outcome === 'cached') ? 'succeeded' : 'failed',
    stages,
    arms,
  };
  await control.writeRunRecord({ storeUri: input.storeUri, record: runRecord });
  return runRecord;
}
