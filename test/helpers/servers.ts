/**
 * The real servers integration tests run against. `npm test` (test/run.ts) starts them once and
 * passes their addresses in env; a test file run on its own starts private ones instead.
 * A server that cannot be reached fails the test with a message naming it — never a skip.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { minioReady, startMinioServer } from '../../infra/minio-server';
import { startTemporalDevServer, temporalReady } from '../../infra/temporal-server';

export interface TemporalTarget {
  readonly address: string;
  readonly namespace: string;
}

export interface MinioTarget {
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
}

/** A private server lives as long as the test file's process (node:test's after() would end it after the first test). */
function stopAtExit(child: ChildProcess): void {
  child.unref();
  process.on('exit', () => child.kill('SIGKILL'));
}

let temporal: Promise<TemporalTarget> | undefined;
let minio: Promise<MinioTarget> | undefined;

async function scratch(name: string): Promise<string> {
  const base = process.env.ROBUSTOK_TEST_STATE ?? os.tmpdir();
  return mkdtemp(path.join(base, `${name}-`));
}

export function testTemporal(): Promise<TemporalTarget> {
  temporal ??= (async () => {
    const address = process.env.TEMPORAL_ADDRESS;
    const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
    if (address) {
      const ok = await temporalReady(address, namespace).catch(() => false);
      if (!ok) throw new Error(`Temporal server is not reachable at ${address} (TEMPORAL_ADDRESS): the integration tests need it running`);
      return { address, namespace };
    }
    const server = await startTemporalDevServer({ dataDir: await scratch('temporal') });
    stopAtExit(server.process.child);
    return { address: server.address, namespace: server.namespace };
  })();
  return temporal;
}

export function testMinio(): Promise<MinioTarget> {
  minio ??= (async () => {
    const endpoint = process.env.ROBUSTOK_S3_ENDPOINT;
    if (endpoint) {
      const ok = await minioReady(endpoint).catch(() => false);
      if (!ok) throw new Error(`MinIO server is not reachable at ${endpoint} (ROBUSTOK_S3_ENDPOINT): the integration tests need it running`);
      return { endpoint, accessKey: process.env.ROBUSTOK_S3_ACCESS_KEY ?? '', secretKey: process.env.ROBUSTOK_S3_SECRET_KEY ?? '' };
    }
    const server = await startMinioServer({ dataDir: await scratch('minio') });
    stopAtExit(server.process.child);
    return { endpoint: server.endpoint, accessKey: server.accessKey, secretKey: server.secretKey };
  })();
  return minio;
}

/** A fresh bucket name per test file, so files running in parallel never see each other's objects. */
export function uniqueBucket(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
}

export function tempDir(name: string): Promise<string> {
  return scratch(name);
}
