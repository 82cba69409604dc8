/**
 * `robustok worker --queue cpu [--queue robustok]`: a long-lived worker process (any number, any
 * host). It hosts the pipeline workflow on the control queue and stage activities on the others;
 * on SIGINT/SIGTERM it stops polling and gives running stages the grace time to finish.
 */
import path from 'node:path';
import { openStore } from '../../artifacts/open-store';
import { describeBackend, initBackend } from '../../compute/backend';
import { PipelineError, errorMessage } from '../../core/errors';
import { describeOffer, type ResourceOffer } from '../../core/resources';
import { defaultProbe, workerOffer } from '../host-resources';
import { createDirectoryWorker, encodeIdentity, workerPlacement } from '../worker-directory';
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
  resources?: string;
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
  const offered = offer(o.resources ?? process.env.ROBUSTOK_WORKER_RESOURCES, backend.gpu);
  if (typeof offered === 'string') {
    console.error(offered);
    return 2;
  }
  const session = await openTemporalSession(settings, (l) => console.error(l));
  const store = openStore(o.store ?? defaultStoreUri());
  // What this process offers travels in its Temporal identity (cli/worker-directory.ts explains why).
  const identity = encodeIdentity(queues, offered);
  const placement = workerPlacement({ service: session.worker.workflowService, namespace: session.namespace, prefix, identity, offer: offered });
  const directory = await createDirectoryWorker({ connection: session.worker, namespace: session.namespace, prefix, identity });
  const stageWorkers = await Promise.all(
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
        identity,
        placement,
      }),
    ),
  );
  const workers = [...stageWorkers, directory];
  console.error(`worker ${process.pid} polling ${queues.join(', ')} on ${session.address} (namespace ${session.namespace})`);
  console.error(`worker ${process.pid} offers ${describeOffer(offered)} (stages asking more are refused; --resources overrides)`);
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

/** The host's offer with --resources applied, or the usage message for a malformed flag. */
function offer(flag: string | undefined, backendGpu: string | null): ResourceOffer | string {
  try {
    return workerOffer(flag, defaultProbe(backendGpu));
  } catch (e) {
    return `robustok worker: ${errorMessage(e)}`;
  }
}
