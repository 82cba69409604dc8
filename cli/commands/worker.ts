/**
 * `robustok worker --queue cpu [--queue robustok]`: a long-lived worker process (any number, any
 * host). It hosts the pipeline workflow on the control queue and stage activities on the others;
 * on SIGINT/SIGTERM it stops polling and gives running stages the grace time to finish.
 */
import path from 'node:path';
import { openStore } from '../../artifacts/open-store';
import { describeBackend, initBackend } from '../../compute/backend';
import { PipelineError } from '../../core/errors';
import { CONTROL_QUEUE, queuePrefix } from '../queues';
import { logsToTerminal } from '../runtime';
import { defaultStoreUri, stateDir } from '../state-dir';
import { openTemporalSession } from '../temporal-session';
import { temporalSettingsFromEnv } from '../temporal-settings';
import { createWorker } from '../worker';
import { ensureNativeBackend } from '../../infra/native-backend-setup';

export async function workerCommand(o: {
  queue: string[];
  address?: string;
  namespace?: string;
  store?: string;
  queuePrefix?: string;
  concurrency?: string;
  grace?: string;
  workRoot?: string;
  allowCpu?: boolean;
}): Promise<number> {
  const settings = temporalSettingsFromEnv(process.env, o);
  if (settings.address === undefined) {
    console.error('robustok worker needs a Temporal server: set TEMPORAL_ADDRESS or --address (robustok server start runs a local one)');
    return 2;
  }
  const prefix = queuePrefix(o.queuePrefix);
  const queues = (o.queue.length > 0 ? o.queue : [CONTROL_QUEUE, 'cpu']).map((q) => prefix + q);
  // Logged at start and recorded in every manifest this worker writes; built on first use if missing.
  await ensureNativeBackend((l) => console.error(l));
  const backend = await initBackend({ log: (l) => console.error(l) });
  // Stages sent to the gpu queue were sized for a GPU: on a CPU they would run for days, not fail.
  if (o.queue.includes('gpu') && backend.gpu === null && o.allowCpu !== true) {
    throw new PipelineError(
      'BACKEND_UNAVAILABLE',
      `robustok worker --queue gpu needs a GPU backend, and this host has none (${describeBackend(backend).replace(/^compute backend: /, '')}). On a host with an NVIDIA GPU and driver: bash infra/native-tensorflow.sh --gpu. To poll the gpu queue on the CPU anyway: --allow-cpu`,
    );
  }
  const session = await openTemporalSession(settings, (l) => console.error(l));
  const store = openStore(o.store ?? defaultStoreUri());
  const workers = await Promise.all(
    queues.map((taskQueue) =>
      createWorker({
        connection: session.worker,
        namespace: session.namespace,
        taskQueue,
        store,
        shutdownGraceTime: o.grace ?? '60s',
        workflows: taskQueue === prefix + CONTROL_QUEUE,
        maxConcurrentActivities: o.concurrency === undefined ? undefined : Number(o.concurrency),
        workRoot: o.workRoot,
      }),
    ),
  );
  console.error(`worker ${process.pid} polling ${queues.join(', ')} on ${session.address} (namespace ${session.namespace})`);
  if (!logsToTerminal()) console.error(`worker log (failed attempts, SDK messages): ${path.join(stateDir(), 'logs', 'worker.log')} (--verbose prints it here)`);
  const stop = () => {
    console.error(`worker ${process.pid}: shutting down (running stages get ${o.grace ?? '60s'} to finish)`);
    for (const w of workers) w.shutdown();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await session.close();
  }
  return 0;
}
