/** The workers `run` and `resume` host in their own process (embedded default, or --worker). */
import type { Worker } from '@temporalio/worker';
import type { ArtifactStore } from '../artifacts/store';
import type { Plan } from '../plan/types';
import { planQueues } from './queues';
import type { TemporalSession } from './temporal-session';
import { createWorker } from './worker';

/** One worker per queue the plan uses: the control queue hosts the workflow, stage queues the activities. */
export async function startInProcessWorkers(plan: Plan, session: TemporalSession, store: ArtifactStore, controlQueue: string): Promise<Worker[]> {
  const workers: Worker[] = [];
  for (const taskQueue of [controlQueue, ...planQueues(plan).filter((q) => q !== controlQueue)]) {
    workers.push(
      await createWorker({
        connection: session.worker,
        namespace: session.namespace,
        taskQueue,
        store,
        shutdownGraceTime: '10s',
        workflows: taskQueue === controlQueue,
        mainThreadWorkflows: true,
        maxConcurrentActivities: taskQueue === controlQueue ? 16 : 2,
      }),
    );
  }
  return workers;
}
