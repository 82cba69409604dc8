/**
 * `robustok server provision|start`: obtain the server binaries; run both servers in the foreground.
 * `start` keeps its settings in <state dir>/servers/servers.json (0600): the ports (`--temporal-port`,
 * `--minio-port`; remembered, so addresses stay stable across restarts) and the MinIO credentials it
 * generated (MinIO's data is tied to its root credentials: a restart must reuse them). It prints what
 * a client needs — addresses, credentials, the Web UI — and exits non-zero when a server dies.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PipelineError } from '../../core/errors';
import { startMinioServer, type MinioServer } from '../../infra/minio-server';
import { provision } from '../../infra/provision';
import type { ServerProcess } from '../../infra/server-process';
import { startTemporalDevServer, type TemporalDevServer } from '../../infra/temporal-server';
import { readServerSettings, serverSettingsFile, type ServerSettings } from '../server-settings';
import { stateDir } from '../state-dir';

export async function provisionCommand(): Promise<number> {
  for (const name of ['temporal', 'minio'] as const) {
    const b = await provision(name, { log: (l) => console.error(l) });
    console.log(`${name}\t${b.version}\t${b.source}${b.origin && b.origin !== b.source ? ` (built by ${b.origin})` : ''}\t${b.path}`);
  }
  return 0;
}

function port(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new PipelineError('CONFIG_INVALID', `${flag} ${text} is not a TCP port (1-65535)`);
  return n;
}

export async function serverStartCommand(o: { temporalPort?: string; minioPort?: string; uiPort?: string } = {}): Promise<number> {
  const dir = path.join(stateDir(), 'servers');
  const log = (l: string) => console.error(l);
  const saved = await readServerSettings();
  // Credentials: the environment's if set, else the ones generated on a first start.
  const settings: ServerSettings = {
    temporalPort: port(o.temporalPort, '--temporal-port') ?? saved.temporalPort,
    uiPort: port(o.uiPort, '--ui-port') ?? saved.uiPort,
    minioPort: port(o.minioPort, '--minio-port') ?? saved.minioPort,
    accessKey: process.env.MINIO_ROOT_USER ?? saved.accessKey ?? `robustok-${randomBytes(4).toString('hex')}`,
    secretKey: process.env.MINIO_ROOT_PASSWORD ?? saved.secretKey ?? randomBytes(18).toString('base64url'),
  };
  const temporal = await startTemporalDevServer({ dataDir: path.join(dir, 'temporal'), log, port: settings.temporalPort, uiPort: settings.uiPort });
  let minio: MinioServer;
  try {
    minio = await startMinioServer({
      dataDir: path.join(dir, 'minio'),
      log,
      port: settings.minioPort,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
    });
  } catch (e) {
    await temporal.stop();
    throw e;
  }
  const used: ServerSettings = {
    ...settings,
    temporalPort: Number(temporal.address.split(':').pop()),
    uiPort: temporal.uiUrl === undefined ? undefined : Number(new URL(temporal.uiUrl).port),
    minioPort: Number(new URL(minio.endpoint).port),
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(serverSettingsFile(), `${JSON.stringify(used, null, 2)}\n`, { mode: 0o600 });
  await chmod(serverSettingsFile(), 0o600);
  console.log(`export TEMPORAL_ADDRESS=${temporal.address}`);
  console.log(`export ROBUSTOK_S3_ENDPOINT=${minio.endpoint}`);
  console.log(`export ROBUSTOK_S3_ACCESS_KEY=${minio.accessKey}`);
  console.log(`export ROBUSTOK_S3_SECRET_KEY=${minio.secretKey}`);
  console.log(`# Temporal Web UI: ${temporal.uiUrl ?? '(headless)'}`);
  console.log(`# ports and credentials are kept in ${serverSettingsFile()} (reused by the next start; --temporal-port/--minio-port change them)`);
  console.log('# Ctrl-C stops both.');
  return superviseServers(temporal, minio);
}

/** Waits for Ctrl-C (exit 0) or for a server to die on its own (exit 1, naming it and its log). */
async function superviseServers(temporal: TemporalDevServer, minio: MinioServer): Promise<number> {
  const died = (label: string, s: { process: ServerProcess }) =>
    new Promise<string>((resolve) =>
      s.process.child.once('exit', (code, signal) => resolve(`${label} exited (${signal ?? `code ${String(code)}`}); its log: ${s.process.logFile}`)),
    );
  const stopRequested = new Promise<undefined>((resolve) => {
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
  });
  const why = await Promise.race([stopRequested, died('the Temporal dev server', temporal), died('MinIO', minio)]);
  await Promise.all([temporal.stop(), minio.stop()]);
  if (why === undefined) return 0;
  console.error(`error [SERVER_DIED]: ${why}; the other server was stopped`);
  return 1;
}
