/**
 * Runs pipeline workflows on the real Temporal server with in-process workers (control + cpu
 * queues) and a given store. Also builds small hand-written plans for engine tests.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import { LocalDirStore } from '../../artifacts/local-store';
import type { ArtifactStore } from '../../artifacts/store';
import type { Json } from '../../core/canonical-json';
import { digestJson } from '../../core/digest';
import type { RunRecord } from '../../core/run-record';
import type { Plan, StageRun } from '../../plan/types';
import { connectClient, connectWorker } from '../../cli/temporal-settings';
import { createWorker } from '../../cli/worker';
import type { PipelineInput, pipelineWorkflow } from '../../workflows/pipeline';
import { testTemporal, tempDir } from './servers';

export function commandRun(
  id: string,
  o: {
    config: Json;
    inputs?: Record<string, { run: string; output: string }>;
    outputs: string[];
    arms?: number[];
    deterministic?: boolean;
    maximumAttempts?: number;
    heartbeat?: string;
  },
): StageRun {
  return {
    id,
    stageId: id.split('#')[0] ?? id,
    kind: 'command',
    version: '1',
    config: o.config,
    inputs: o.inputs ?? {},
    outputs: o.outputs,
    arms: o.arms ?? [0],
    structuralKey: digestJson({ id, config: o.config }),
    queue: 'cpu',
    resources: {},
    retry: { maximumAttempts: o.maximumAttempts ?? 2, initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '2s' },
    timeouts: { startToClose: '2 minutes', heartbeat: o.heartbeat ?? '30s' },
    checkpointEvery: 0,
    deterministic: o.deterministic ?? true,
    seed: 0,
  };
}

export function planOf(runs: StageRun[], o: Partial<Plan> = {}): Plan {
  return { name: 'engine-test', arms: [{ index: 0, label: '', params: {} }], runs, failurePolicy: 'failFast', concurrency: {}, ...o };
}

export interface Harness {
  run(plan: Plan, extra?: Partial<PipelineInput>): Promise<RunRecord>;
  /** Status of the first execution of the last run ('CONTINUED_AS_NEW' when it handed over). */
  firstExecutionStatus(): Promise<string>;
  /** The event history of the first execution of the last run (to save replay fixtures). */
  history(): Promise<temporal.api.history.v1.IHistory>;
  close(): Promise<void>;
  /** Where the workers put stage workdirs. */
  readonly workRoot: string;
}

/** Workers for a control queue and the 'cpu' queue (renamed per harness so tests never share them). */
export async function pipelineHarness(store: ArtifactStore, o: { workRoot?: string } = {}): Promise<Harness> {
  const t = await testTemporal();
  const settings = { address: t.address, namespace: t.namespace };
  const clientConn = await connectClient(settings);
  const workerConn = await connectWorker(settings);
  const suffix = randomUUID().slice(0, 8);
  const controlQueue = `control-${suffix}`;
  const cpuQueue = `cpu-${suffix}`;
  const workRoot = o.workRoot ?? (await tempDir('work'));
  const workers: Worker[] = [
    await createWorker({
      connection: workerConn,
      namespace: t.namespace,
      taskQueue: controlQueue,
      store,
      shutdownGraceTime: '1s',
      workRoot,
      maxConcurrentActivities: 8,
    }),
    await createWorker({ connection: workerConn, namespace: t.namespace, taskQueue: cpuQueue, store, shutdownGraceTime: '1s', workRoot }),
  ];
  const running = workers.map((w) => w.run());
  const client = new Client({ connection: clientConn, namespace: t.namespace });
  let last: { workflowId: string; runId: string } | undefined;
  return {
    workRoot,
    async run(plan, extra = {}) {
      const renamed: Plan = { ...plan, runs: plan.runs.map((r) => ({ ...r, queue: r.queue === 'cpu' ? cpuQueue : r.queue })) };
      const handle = await client.workflow.start<typeof pipelineWorkflow>('pipelineWorkflow', {
        taskQueue: controlQueue,
        workflowId: `test-run-${randomUUID()}`,
        args: [{ plan: renamed, runId: randomUUID(), storeUri: store.uri, controlQueue, startedAt: new Date().toISOString(), ...extra }],
      });
      last = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId };
      return handle.result();
    },
    async firstExecutionStatus() {
      if (last === undefined) throw new Error('no run yet');
      return (await client.workflow.getHandle(last.workflowId, last.runId).describe()).status.name;
    },
    async history() {
      if (last === undefined) throw new Error('no run yet');
      return client.workflow.getHandle(last.workflowId, last.runId).fetchHistory();
    },
    async close() {
      for (const w of workers) w.shutdown();
      await Promise.all(running);
      await workerConn.close();
      await clientConn.close();
    },
  };
}

/** Runs `fn` with a harness over a fresh local-directory store, and closes it afterwards. */
export async function withLocalHarness(name: string, fn: (h: Harness, store: LocalDirStore) => Promise<void>): Promise<void> {
  const store = new LocalDirStore(await tempDir(name));
  const harness = await pipelineHarness(store);
  try {
    await fn(harness, store);
  } finally {
    await harness.close();
  }
}
