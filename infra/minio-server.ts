/**
 * Starts a MinIO server on a free loopback port with its data in `dataDir`, waits for
 * GET /minio/health/ready. Credentials come from the caller (or env); only `server start` prints them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './ports';
import { provision, type ProvisionedBinary } from './provision';
import { startServerProcess, type ServerProcess } from './server-process';

export interface MinioServer {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly binary: ProvisionedBinary;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

export async function startMinioServer(opts: {
  dataDir: string;
  accessKey?: string;
  secretKey?: string;
  port?: number;
  log?: (l: string) => void;
}): Promise<MinioServer> {
  const binary = await provision('minio', { log: opts.log });
  const accessKey = opts.accessKey ?? process.env.MINIO_ROOT_USER ?? `robustok-${randomBytes(4).toString('hex')}`;
  const secretKey = opts.secretKey ?? process.env.MINIO_ROOT_PASSWORD ?? randomBytes(18).toString('base64url');
  const dataDir = path.join(opts.dataDir, 'minio-data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const [port, consolePort] = [opts.port ?? (await freePort()), await freePort()];
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = await startServerProcess({
    label: `MinIO server (${endpoint})`,
    bin: binary.path,
    args: ['server', dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet'],
    env: {
      ...process.env,
      MINIO_ROOT_USER: accessKey,
      MINIO_ROOT_PASSWORD: secretKey,
      MINIO_BROWSER: 'off',
      // No phoning home: this machine has no internet and tests must not try.
      MINIO_UPDATE: 'off',
      MINIO_CALLHOME_ENABLE: 'off',
    },
    logFile: path.join(opts.dataDir, 'minio.log'),
    ready: () => minioReady(endpoint),
    timeoutMs: 60_000,
  });
  return { endpoint, accessKey, secretKey, binary, process: proc, stop: () => proc.stop() };
}

export async function minioReady(endpoint: string): Promise<boolean> {
  const res = await fetch(`${endpoint}/minio/health/ready`, { signal: AbortSignal.timeout(1000) });
  return res.ok;
}
