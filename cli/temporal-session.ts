/**
 * Connects to the configured Temporal server, or — with no address configured — to the local server
 * `robustok server start [--detach]` keeps up for this state folder when it is healthy (cli/local-server.ts),
 * else starts the local dev server (the embedded default) and stops it again when the session ends.
 */
import path from 'node:path';
import type { Connection } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { startTemporalDevServer, workflowUiUrl, type TemporalDevServer } from '../infra/temporal-server';
import { healthyLocalServer, type LocalServer } from './local-server';
import { readServerSettings } from './server-settings';
import { stateDir } from './state-dir';
import { connectClient, connectWorker, type TemporalSettings } from './temporal-settings';

export interface TemporalSession {
  readonly address: string;
  readonly namespace: string;
  readonly client: Connection;
  readonly worker: NativeConnection;
  /** Set when this session started its own dev server. */
  readonly devServer: TemporalDevServer | undefined;
  /** Set when this session uses the local server `robustok server start` keeps up (no address was configured). */
  readonly localServer: LocalServer | undefined;
  /** The Temporal Web UI, when known: this session's dev server, $TEMPORAL_UI_URL, or the one `robustok server start` runs at this address. */
  readonly uiUrl: string | undefined;
  close(): Promise<void>;
}

export async function openTemporalSession(s: TemporalSettings, log: (l: string) => void): Promise<TemporalSession> {
  let devServer: TemporalDevServer | undefined;
  let localServer: LocalServer | undefined;
  let address = s.address;
  let namespace = s.namespace;
  if (address === undefined) {
    localServer = await healthyLocalServer();
    // Its dev server knows its own namespace only: another one asked for gets the embedded default.
    if (localServer !== undefined && localServer.namespace !== namespace) localServer = undefined;
  }
  if (localServer !== undefined) {
    address = localServer.address;
    log(`using the local Temporal server at ${address} ('robustok server stop' stops it)`);
  } else if (address === undefined) {
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
      localServer,
      uiUrl: devServer?.uiUrl ?? localServer?.uiUrl ?? (await knownUiUrl(address)),
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

async function knownUiUrl(address: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.TEMPORAL_UI_URL) return env.TEMPORAL_UI_URL.replace(/\/+$/, '');
  const saved = await readServerSettings(env);
  const local = /^(127\.0\.0\.1|localhost):(\d+)$/.exec(address);
  if (local === null || saved.uiPort === undefined || Number(local[2]) !== saved.temporalPort) return undefined;
  return `http://127.0.0.1:${saved.uiPort}`;
}

/** The Web UI page of a run, or undefined when the UI's address is not known. */
export function runUiLink(session: TemporalSession, workflowId: string): string | undefined {
  return session.uiUrl === undefined ? undefined : workflowUiUrl(session.uiUrl, session.namespace, workflowId);
}
