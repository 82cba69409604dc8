/**
 * Builds a Temporal worker hosting our workflows and activities on one task queue.
 * The workflow bundle is built once per process (webpack takes seconds) and reused.
 */
import path from 'node:path';
import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createRoundTripActivities } from '../activities/roundtrip-activities';
import { createStageActivities } from '../activities/stage-activities';
import type { Json } from '../core/canonical-json';
import { codeVersion } from './code-version';
import type { ArtifactStore } from '../artifacts/store';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({
    workflowsPath: path.join(__dirname, '..', 'workflows', 'index.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn: (m) => console.warn(m), error: (m) => console.error(m), log() {} },
  });
  return bundle;
}

export interface WorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly store: ArtifactStore;
  /** How long a shutting-down worker lets running activities finish before cancelling them. */
  readonly shutdownGraceTime?: string;
  /** Where stage attempts get their workdirs. */
  readonly workRoot?: string;
  readonly backend?: () => Json | undefined;
  /** Stage activities running at once on this worker (default 2: a stage is usually CPU-bound). */
  readonly maxConcurrentActivities?: number;
}

export async function createWorker(o: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      ...createRoundTripActivities({ store: o.store }),
      ...createStageActivities({ store: o.store, codeVersion: codeVersion(), workRoot: o.workRoot, backend: o.backend }),
    },
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 2,
    shutdownGraceTime: o.shutdownGraceTime ?? '30s',
  });
}
