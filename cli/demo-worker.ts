/**
 * The worker of `robustok demo` (and its test): the round-trip workflow and its two activities, on a
 * task queue of its own. Pipeline workers do not carry them (cli/worker.ts bundles the pipeline
 * workflow only), so a demo never lands on a production worker and vice versa.
 */
import path from 'node:path';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createRoundTripActivities } from '../activities/roundtrip-activities';
import { PACKAGE_ROOT } from '../infra/package-root';
import type { ArtifactStore } from '../artifacts/store';

export function createDemoWorker(o: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  store: ArtifactStore;
  shutdownGraceTime?: string;
}): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    workflowsPath: path.join(PACKAGE_ROOT, 'workflows', 'roundtrip.ts'),
    activities: createRoundTripActivities({ store: o.store }),
    shutdownGraceTime: o.shutdownGraceTime ?? '5s',
  });
}
