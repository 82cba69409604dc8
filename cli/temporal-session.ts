/**
 * Connects to the configured Temporal server, or — with no address configured — starts the
 * local dev server (the embedded default) and stops it again when the session ends.
 */
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { startTemporalDevServer, type TemporalDevServer } from '../infra/temporal-server';
import { stateDir } from './state-dir';
import { connectClient, connectWorker, type TemporalSettings } from './temporal-settings';

export interface TemporalSession {
  readonly address: string;
  readonly namespace: string;
  readonly client: Connection;
  readonly worker: NativeConnection;
  /** Set when this session started its own dev server. */
  readonly devServer: TemporalDevServer | undefined;
  close(): Promise<void>;
}

export async function openTemporalSession(s: TemporalSettings, log: (l: string) => void): Promise<TemporalSession> {
  let devServer: TemporalDevServer | undefined;
  let address = s.address;
  let namespace = s.namespace;
  if (address === undefined) {
    devServer = await startTemporalDevServer({ dataDir: path.join(stateDir(), 'temporal'), namespace, log });
    address = devServer.address;
    namespace = devServer.namespace;
    log(`started Temporal dev server at ${address} (${devServer.binary.version}, from ${devServer.binary.source})`);
  }
  try {
    const client = await connectClient({ ...s, address, namespace });
    const worker = await connectWorker({ ...s, address, namespace });
    return {
      address,
      namespace,
      client,
      worker,
      devServer,
      async close() {
        await worker.close();
        await client.close();
        await devServer?.stop();
      },
    };
  } catch (e) {
    await devServer?.stop();
    throw e;
  }
}
