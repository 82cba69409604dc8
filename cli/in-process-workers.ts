/** The workers `run` and `resume` host in their own process (embedded default, or --worker). */
import type { Worker } from '@temporalio/worker';
import type { ArtifactStore } from '../artifacts/store';
import type { ResourceOffer } from '../core/resources';
import type { Plan } from '../plan/types';
import { defaultProbe, workerOffer } from './host-resources';
import { CONTROL_QUEUE, planQueues } from './queues';
import type { TemporalSession } from './temporal-session';
import { createWorker } from './worker';
import { createDirectoryWorker, decodeIdentity, encodeIdentity, workerPlacement, type WorkerAd } from './worker-directory';

let offer: ResourceOffer | undefined;

/** This machine, as in-process workers offer it ($ROBUSTOK_WORKER_RESOURCES overrides like `worker --resources`). */
export function inProcessOffer(): ResourceOffer {
  offer ??= workerOffer(process.env.ROBUSTOK_WORKER_RESOURCES, defaultProbe());
  return offer;
}

function queuesOf(plan: Plan, controlQueue: string): string[] {
  return [controlQueue, ...planQueues(plan).filter((q) => q !== controlQueue)];
}

/** What the in-process workers advertise, for `run`'s placement check (they may not have polled yet). */
export function inProcessAd(plan: Plan, controlQueue: string): WorkerAd {
  const ad = decodeIdentity(encodeIdentity(queuesOf(plan, controlQueue), inProcessOffer()));
  if (ad === undefined) throw new Error('unreachable: an encoded identity always decodes');
  return ad;
}

/**
 * One worker per queue the plan uses: the control queue hosts the workflow, stage queues the activities.
 * Against a shared server (not the embedded dev server) they are also listed in the worker directory,
 * so other clients' placement checks see them.
 */
export async function startInProcessWorkers(plan: Plan, session: TemporalSession, store: ArtifactStore, controlQueue: string): Promise<Worker[]> {
  const prefix = controlQueue.slice(0, controlQueue.length - CONTROL_QUEUE.length);
  const queues = queuesOf(plan, controlQueue);
  const identity = encodeIdentity(queues, inProcessOffer());
  const placement = workerPlacement({ service: session.worker.workflowService, namespace: session.namespace, prefix, identity, offer: inProcessOffer() });
  const workers: Worker[] = [];
  for (const taskQueue of queues) {
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
        identity,
        placement,
      }),
    );
  }
  if (session.devServer === undefined)
    workers.push(await createDirectoryWorker({ connection: session.worker, namespace: session.namespace, prefix, identity }));
  return workers;
}
