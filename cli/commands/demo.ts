/**
 * `robustok demo`: the first vertical slice on the embedded default — a workflow writes an
 * artifact through the configured store, reads it back and verifies its sha256.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { openStore } from '../../artifacts/open-store';
import { defaultStoreUri } from '../state-dir';
import { openTemporalSession } from '../temporal-session';
import { temporalSettingsFromEnv } from '../temporal-settings';
import { createDemoWorker } from '../demo-worker';
import type { roundTripWorkflow } from '../../workflows/roundtrip';

export async function demoCommand(opts: { json?: boolean; address?: string; namespace?: string; store?: string }): Promise<number> {
  const log = (l: string) => (opts.json ? undefined : console.error(l));
  const store = openStore(opts.store ?? defaultStoreUri());
  const session = await openTemporalSession(temporalSettingsFromEnv(process.env, opts), log);
  try {
    const taskQueue = `robustok-demo-${randomUUID()}`;
    const worker = await createDemoWorker({ connection: session.worker, namespace: session.namespace, taskQueue, store, shutdownGraceTime: '5s' });
    const client = new Client({ connection: session.client, namespace: session.namespace });
    const id = `demo-${randomUUID()}`;
    const result = await worker.runUntil(
      client.workflow.execute<typeof roundTripWorkflow>('roundTripWorkflow', {
        taskQueue,
        workflowId: id,
        args: [{ key: `demo/${id}.txt`, text: `hello from ${id}\n` }],
      }),
    );
    if (opts.json) console.log(JSON.stringify({ workflowId: id, temporal: session.address, ...result }, null, 2));
    else
      console.log(
        `workflow ${id}: wrote ${result.ref.key} (${result.ref.bytes} B) to ${result.storeUri}; sha256 ${result.readBackDigest} verified on read-back`,
      );
    return 0;
  } finally {
    await session.close();
  }
}
