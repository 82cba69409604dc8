/**
 * `robustok run <spec>`: validate, plan, start the pipeline workflow and stream its progress.
 * With no Temporal address configured it starts the local dev server and in-process workers
 * (the embedded default); against a cluster it only submits, and workers elsewhere do the work.
 * Exit codes: 0 succeeded, 1 failed, 2 invalid spec.
 */
import { randomUUID } from 'node:crypto';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { openStore } from '../../artifacts/open-store';
import { ensureNativeBackend } from '../../infra/native-backend-setup';
import { writeRunPlan } from '../../artifacts/run-plans';
import type { RunRecord } from '../../core/run-record';
import type { Plan } from '../../plan/types';
import { progressQuery, type pipelineWorkflow } from '../../workflows/pipeline';
import { loadPlan, reportIssues } from '../load-plan';
import { CONTROL_QUEUE, planQueues, queuePrefix, withQueuePrefix } from '../queues';
import { defaultReportDir, reportAfterRun } from '../../report/write';
import { defaultStoreUri, stateDir } from '../state-dir';
import { backendsUsed, fidLines } from '../run-headline';
import { printRecord, recordJson, stageLine } from '../summary';
import { openTemporalSession, runUiLink, type TemporalSession } from '../temporal-session';
import { temporalSettingsFromEnv } from '../temporal-settings';
import { startInProcessWorkers } from '../in-process-workers';
import { placementPreflight } from '../placement-preflight';
import { followInteractively, INTERRUPTED } from '../interrupt';
import { resultThroughOutages } from '../reconnect';
import { StageProgressBars } from '../progress-bars';

export interface RunOptions {
  readonly set: string[];
  readonly json?: boolean;
  readonly store?: string;
  readonly address?: string;
  readonly namespace?: string;
  readonly queuePrefix?: string;
  /** Run workers in this process (default: only on a local server — the dev server this command started, or `robustok server start`'s). */
  readonly worker?: boolean;
}

export async function runCommand(file: string, o: RunOptions): Promise<number> {
  const planned = await loadPlan(file, o.set);
  if (!planned.ok) return reportIssues(planned.issues, o.json === true);
  const prefix = queuePrefix(o.queuePrefix);
  const plan = withQueuePrefix(planned.plan, prefix);
  const log = (l: string) => (o.json ? undefined : console.error(l));
  const session = await openTemporalSession(temporalSettingsFromEnv(process.env, o), log);
  try {
    return await submitAndFollow(plan, { ...o, prefix, session, log });
  } finally {
    await session.close();
  }
}

export async function submitAndFollow(plan: Plan, o: RunOptions & { prefix: string; session: TemporalSession; log: (l: string) => void }): Promise<number> {
  const storeUri = o.store ?? defaultStoreUri();
  const store = openStore(storeUri);
  // Wrong store credentials surface here, before anything starts (STORE_AUTH), not in every stage attempt.
  await store.stat('records/.preflight');
  const controlQueue = o.prefix + CONTROL_QUEUE;
  // Workers live here by default when the server is local: the embedded one, or `robustok server start`'s.
  const inProcess = o.worker ?? (o.session.devServer !== undefined || o.session.localServer !== undefined);
  // Tensor stages in this process: get the native backend on first use (else they run on wasm).
  if (inProcess && plan.runs.some((r) => r.kind !== 'command')) await ensureNativeBackend(o.log);
  const workers = inProcess ? await startInProcessWorkers(plan, o.session, store, controlQueue) : [];
  const running = workers.map((w) => w.run());
  const client = new Client({ connection: o.session.client, namespace: o.session.namespace });
  const runId = `${plan.name}-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}-${randomUUID().slice(0, 6)}`;
  try {
    // Fails fast (RESOURCES_UNSATISFIABLE) for a stage no live worker of its queue can host, instead of waiting forever.
    await placementPreflight(plan, { session: o.session, prefix: o.prefix, controlQueue, inProcess, log: o.log });
    // Beside the record: the arms' sweep values and the DAG, which the report pivots on and draws.
    await writeRunPlan(store, runId, plan);
    const handle = await client.workflow.start<typeof pipelineWorkflow>('pipelineWorkflow', {
      taskQueue: controlQueue,
      workflowId: `run-${runId}`,
      // One workflow per run id, ever: a second start with this id fails instead of running it twice.
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      workflowIdConflictPolicy: 'FAIL',
      args: [{ plan, runId, storeUri: store.uri, controlQueue, startedAt: new Date().toISOString() }],
    });
    o.log(
      `run ${runId}: ${plan.runs.length} stage runs, ${plan.arms.length} arm(s), store ${store.uri}${inProcess ? '' : ` — waiting for workers on ${planQueues(plan).join(', ')}`}`,
    );
    const ui = runUiLink(o.session, handle.workflowId);
    if (ui !== undefined) o.log(`Temporal Web UI: ${ui}`);
    const record = await followInteractively(handle, runId, {
      quiet: o.json === true,
      workers: running,
      inProcess,
      embedded: o.session.devServer !== undefined,
      log: o.log,
    });
    if (record === undefined) return INTERRUPTED;
    const report = await reportAfterRun(store, record, defaultReportDir(stateDir(), runId), o.log);
    if (o.json) console.log(JSON.stringify({ ...recordJson(record), ...(report === undefined ? {} : { report }) }, null, 2));
    else {
      printRecord(record, true);
      for (const l of fidLines(record)) console.log(l);
      for (const l of await backendsUsed(store, record)) console.log(l);
    }
    if (report !== undefined && !o.json) console.log(`report: ${report}`);
    return record.outcome === 'succeeded' ? 0 : 1;
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
  }
}

/** Prints each stage run as it finishes (from the workflow's progress query) until the result. */
export async function follow(handle: WorkflowHandle<typeof pipelineWorkflow>, quiet: boolean, workers: Promise<void>[] = []): Promise<RunRecord> {
  const printed = new Set<string>();
  let done = false;
  // A Temporal restart while we wait is waited out: the run itself goes on server-side.
  const result = resultThroughOutages(handle, (l) => (quiet ? undefined : console.error(l))).finally(() => (done = true));
  // A crashed in-process worker must not leave us waiting forever.
  const workerDied = workers.map((w) => w.then(() => (done ? undefined : Promise.reject(new Error('in-process worker stopped unexpectedly')))));
  // Bars only on a terminal; piped output gets plain lines.
  const bars = !quiet && process.stderr.isTTY ? new StageProgressBars() : undefined;
  const print = (line: string) => (bars ? bars.log(line) : console.error(line));
  const poll = (async () => {
    while (!done) {
      // Wake at the next tick or as soon as the run ends, whichever is first.
      await Promise.race([new Promise((r) => setTimeout(r, 500)), result.catch(() => undefined)]);
      if (done || quiet) continue;
      const p = await handle.query(progressQuery).catch(() => undefined);
      for (const s of p?.stages ?? []) {
        if (printed.has(s.id)) continue;
        printed.add(s.id);
        print(stageLine(s));
      }
      await bars?.update(handle).catch(() => undefined);
    }
    bars?.stop();
  })();
  const record = await Promise.race([result, ...workerDied]);
  await poll;
  if (record === undefined) throw new Error('unreachable: worker promise resolved with a result');
  if (!quiet) for (const s of record.stages) if (!printed.has(s.id)) console.error(stageLine(s));
  return record;
}
