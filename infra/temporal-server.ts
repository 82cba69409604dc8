/**
 * Starts `temporal server start-dev` on loopback ports (free ones unless given) with a SQLite file for
 * persistence and the Web UI (unless headless), waits until the frontend answers gRPC health and the namespace exists.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { freePort } from './ports';
import { provision, type ProvisionedBinary } from './provision';
import { startServerProcess, type ServerProcess } from './server-process';

export interface TemporalDevServer {
  readonly address: string;
  readonly namespace: string;
  /** The Temporal Web UI (undefined when started headless). */
  readonly uiUrl: string | undefined;
  readonly binary: ProvisionedBinary;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

export interface TemporalDevServerOptions {
  readonly dataDir: string;
  readonly namespace?: string;
  readonly log?: (l: string) => void;
  /** Fixed ports (default: free ones). */
  readonly port?: number;
  readonly uiPort?: number;
  /** No Web UI (tests save its memory). */
  readonly headless?: boolean;
}

/** The Web UI page of one workflow. */
export function workflowUiUrl(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const binary = await provision('temporal', { log: opts.log });
  const namespace = opts.namespace ?? 'default';
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const [port, uiPort, httpPort, metricsPort] = [opts.port ?? (await freePort()), opts.uiPort ?? (await freePort()), await freePort(), await freePort()];
  const address = `127.0.0.1:${port}`;
  const proc = await startServerProcess({
    label: `Temporal dev server (${address})`,
    bin: binary.path,
    args: [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--ui-port',
      String(uiPort),
      '--http-port',
      String(httpPort),
      '--metrics-port',
      String(metricsPort),
      ...(opts.headless === true ? ['--headless'] : []),
      '--db-filename',
      path.join(opts.dataDir, 'temporal.sqlite'),
      '--namespace',
      namespace,
      '--log-level',
      'warn',
    ],
    env: { ...process.env },
    logFile: path.join(opts.dataDir, 'temporal.log'),
    ready: () => temporalReady(address, namespace),
    timeoutMs: 60_000,
  });
  const uiUrl = opts.headless === true ? undefined : `http://127.0.0.1:${uiPort}`;
  return { address, namespace, uiUrl, binary, process: proc, stop: () => proc.stop() };
}

export async function temporalReady(address: string, namespace: string): Promise<boolean> {
  const conn = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    const health = await conn.healthService.check({});
    // grpc.health.v1 ServingStatus: 1 = SERVING.
    if (Number(health.status) !== 1) return false;
    await conn.workflowService.describeNamespace({ namespace });
    return true;
  } finally {
    await conn.close();
  }
}
