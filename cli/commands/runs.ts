/**
 * Commands about existing runs: `status <run> [--watch]`, `resume <run>`, `cancel <run>`.
 * A run is the workflow `run-<runId>`; `resume` starts a new run of the same plan (read back from
 * the first run's history), so every finished stage is a cache hit and failed ones run again.
 */
import { Client, WorkflowNotFoundError, type WorkflowExecutionDescription, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { PipelineError } from '../../core/errors';
import type { RunRecord } from '../../core/run-record';
import { progressQuery, type PipelineInput, type pipelineWorkflow } from '../../workflows/pipeline';
import { queuePrefix } from '../queues';
import { printRecord, recordJson, stageLine } from '../summary';
import { openTemporalSession, runUiLink, type TemporalSession } from '../temporal-session';
import { temporalSettingsFromEnv } from '../temporal-settings';
import { openStore } from '../../artifacts/open-store';
import { startInProcessWorkers } from '../in-process-workers';
import { followInteractively, INTERRUPTED } from '../interrupt';
import { follow, submitAndFollow } from './run';

interface ConnOptions {
  readonly json?: boolean;
  readonly address?: string;
  readonly namespace?: string;
}

async function withRun<T>(runId: string, o: ConnOptions, fn: (h: WorkflowHandle<typeof pipelineWorkflow>, s: TemporalSession) => Promise<T>): Promise<T> {
  const session = await openTemporalSession(temporalSettingsFromEnv(process.env, o), (l) => (o.json ? undefined : console.error(l)));
  try {
    const client = new Client({ connection: session.client, namespace: session.namespace });
    const handle = client.workflow.getHandle<typeof pipelineWorkflow>(runId.startsWith('run-') ? runId : `run-${runId}`);
    try {
      await handle.describe();
    } catch (e) {
      if (e instanceof WorkflowNotFoundError)
        throw new PipelineError(
          'INPUT_MISSING',
          `no run '${runId}' in namespace ${session.namespace} at ${session.address}; list runs with the Temporal UI or check the run id printed by 'robustok run'`,
        );
      throw e;
    }
    return await fn(handle, session);
  } finally {
    await session.close();
  }
}

const QUERY_TIMEOUT_MS = 5_000;
const CANCEL_WAIT_MS = 5_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Status from the server alone (its pending activities and their last heartbeats) when no worker answers. */
function printUnanswered(runId: string, desc: WorkflowExecutionDescription, json: boolean): number {
  const inFlight = (desc.raw.pendingActivities ?? []).map((a) => {
    const beat = a.heartbeatDetails?.payloads?.[0];
    const stage = beat ? (defaultPayloadConverter.fromPayload<{ stage?: string }>(beat).stage ?? '?') : '?';
    const at = a.lastHeartbeatTime?.seconds ? new Date(Number(a.lastHeartbeatTime.seconds) * 1000).toISOString() : undefined;
    return { stage, attempt: a.attempt ?? 1, lastHeartbeat: at ?? null };
  });
  const hint = `its workers did not answer within ${QUERY_TIMEOUT_MS / 1000} s (busy, or gone because the 'robustok run' hosting them was interrupted): 'robustok resume ${runId}' continues it, 'robustok cancel ${runId}' drops it`;
  if (json) console.log(JSON.stringify({ runId, status: 'running', answered: false, inFlight, hint }, null, 2));
  else {
    console.log(`run ${runId}: running, but ${hint}`);
    for (const f of inFlight) console.log(`  … ${f.stage} attempt ${f.attempt}${f.lastHeartbeat ? `, last heartbeat ${f.lastHeartbeat}` : ''}`);
  }
  return 0;
}

export function statusCommand(runId: string, o: ConnOptions & { watch?: boolean }): Promise<number> {
  return withRun(runId, o, async (handle, session) => {
    const desc = await handle.describe();
    const ui = runUiLink(session, handle.workflowId);
    if (ui !== undefined && !o.json) console.error(`Temporal Web UI: ${ui}`);
    if (desc.status.name === 'RUNNING' && o.watch) {
      const record = await follow(handle, o.json === true);
      if (o.json) console.log(JSON.stringify(recordJson(record), null, 2));
      else printRecord(record, true);
      return record.outcome === 'succeeded' ? 0 : 1;
    }
    if (desc.status.name === 'RUNNING') {
      // A query needs a live worker: when the `run` hosting them was killed, the server would hold
      // it for its own timeout (34 s) and fail. Past a short wait, the server's view says enough.
      const p = await withTimeout(handle.query(progressQuery), QUERY_TIMEOUT_MS).catch(() => undefined);
      if (p === undefined) return printUnanswered(runId, desc, o.json === true);
      if (o.json) {
        console.log(JSON.stringify({ runId, status: 'running', running: p.running, stages: p.stages }, null, 2));
      } else {
        console.log(`run ${runId}: running (${p.stages.length} stage runs finished, ${p.running.length} in flight: ${p.running.join(', ') || '—'})`);
        for (const s of p.stages) console.log(stageLine(s));
      }
      return 0;
    }
    if (desc.status.name === 'COMPLETED') {
      const record: RunRecord = await handle.result();
      if (o.json) console.log(JSON.stringify(recordJson(record), null, 2));
      else printRecord(record);
      return record.outcome === 'succeeded' ? 0 : 1;
    }
    const status = desc.status.name.toLowerCase();
    if (o.json) console.log(JSON.stringify({ runId, status }, null, 2));
    else console.log(`run ${runId}: ${status}`);
    return 1;
  });
}

export function cancelCommand(runId: string, o: ConnOptions & { force?: boolean }): Promise<number> {
  return withRun(runId, o, async (handle) => {
    if ((await handle.describe()).status.name !== 'RUNNING') {
      const status = (await handle.describe()).status.name.toLowerCase();
      if (o.json) console.log(JSON.stringify({ runId, cancelled: false, status }));
      else console.log(`run ${runId}: already ${status}; nothing to cancel`);
      return 0;
    }
    if (o.force) {
      await handle.terminate('robustok cancel --force');
      if (o.json) console.log(JSON.stringify({ runId, cancelled: true, terminated: true }));
      else console.log(`run ${runId}: terminated (stage programs still running on workers stop when their heartbeat is refused)`);
      return 0;
    }
    await handle.cancel();
    // Cancellation is carried out by the run's workers: say so when none takes it up.
    const closed = await Promise.race([
      handle.result().then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((r) => setTimeout(() => r(false), CANCEL_WAIT_MS)),
    ]);
    if (o.json) console.log(JSON.stringify({ runId, cancelled: true, closed }));
    else if (closed) console.log(`run ${runId}: cancelled`);
    else
      console.log(
        `run ${runId}: cancellation requested; no worker has carried it out within ${CANCEL_WAIT_MS / 1000} s (running stages stop at their next heartbeat). If its workers are gone, 'robustok resume ${runId}' hosts them to finish the cancellation, or 'robustok cancel ${runId} --force' terminates it at once`,
      );
    return 0;
  });
}

/** The plan a run was started with: the input of the first event of its history. */
async function originalInput(handle: WorkflowHandle<typeof pipelineWorkflow>): Promise<PipelineInput> {
  const history = await handle.fetchHistory();
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const payload = started?.input?.payloads?.[0];
  if (payload === undefined || payload === null) throw new PipelineError('INPUT_MISSING', `run ${handle.workflowId} has no recorded input to resume from`);
  return defaultPayloadConverter.fromPayload<PipelineInput>(payload);
}

export function resumeCommand(runId: string, o: ConnOptions & { store?: string; worker?: boolean; queuePrefix?: string }): Promise<number> {
  return withRun(runId, o, async (handle, session) => {
    const input = await originalInput(handle);
    const log = (l: string) => (o.json ? undefined : console.error(l));
    // A run that is still going is attached to, never started a second time (two workflows would
    // execute the same stages at once).
    if ((await handle.describe()).status.name === 'RUNNING') return attach(handle, input, { ...o, session, log });
    log(`resuming ${input.plan.name} from run ${input.runId}: finished stages are cache hits, the rest run now`);
    return submitAndFollow(input.plan, {
      set: [],
      json: o.json,
      store: o.store ?? input.storeUri,
      worker: o.worker,
      prefix: queuePrefix(o.queuePrefix),
      session,
      log,
    });
  });
}

/** Hosts workers for a running run (when embedded or --worker) and follows it to its end. */
async function attach(
  handle: WorkflowHandle<typeof pipelineWorkflow>,
  input: PipelineInput,
  o: ConnOptions & { store?: string; worker?: boolean; session: TemporalSession; log: (l: string) => void },
): Promise<number> {
  // Workers live here by default when the server is local: the embedded one, or `robustok server start`'s.
  const inProcess = o.worker ?? (o.session.devServer !== undefined || o.session.localServer !== undefined);
  o.log(`run ${input.runId} is still running: attaching to it${inProcess ? ' and hosting its workers here' : ''} (no second run is started)`);
  const workers = inProcess ? await startInProcessWorkers(input.plan, o.session, openStore(o.store ?? input.storeUri), input.controlQueue) : [];
  const running = workers.map((w) => w.run());
  try {
    const record = await followInteractively(handle, input.runId, {
      quiet: o.json === true,
      workers: running,
      inProcess,
      embedded: o.session.devServer !== undefined,
      log: o.log,
    });
    if (record === undefined) return INTERRUPTED;
    if (o.json) console.log(JSON.stringify(recordJson(record), null, 2));
    else printRecord(record, true);
    return record.outcome === 'succeeded' ? 0 : 1;
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.allSettled(running);
  }
}
