/**
 * Temporal connection settings from flags, then env (the same names the temporal CLI uses):
 * TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA,
 * TEMPORAL_TLS_SERVER_NAME. No address means "embedded": start a local dev server.
 */
import { readFileSync } from 'node:fs';
import { Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { PipelineError, errorMessage } from '../core/errors';
import { installRuntime } from './runtime';

export interface TemporalSettings {
  readonly address: string | undefined;
  readonly namespace: string;
  readonly tls?: { certFile?: string; keyFile?: string; caFile?: string; serverName?: string };
}

export function temporalSettingsFromEnv(env: NodeJS.ProcessEnv = process.env, flags: Partial<{ address: string; namespace: string }> = {}): TemporalSettings {
  const certFile = env.TEMPORAL_TLS_CERT;
  const keyFile = env.TEMPORAL_TLS_KEY;
  const caFile = env.TEMPORAL_TLS_CA;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const anyTls = certFile ?? keyFile ?? caFile ?? serverName;
  return {
    address: flags.address ?? env.TEMPORAL_ADDRESS,
    namespace: flags.namespace ?? env.TEMPORAL_NAMESPACE ?? 'default',
    tls: anyTls === undefined ? undefined : { certFile, keyFile, caFile, serverName },
  };
}

function tlsConfig(s: TemporalSettings): TLSConfig | undefined {
  if (s.tls === undefined) return undefined;
  const read = (f: string | undefined) => (f === undefined ? undefined : readFileSync(f));
  const crt = read(s.tls.certFile);
  const key = read(s.tls.keyFile);
  return {
    serverNameOverride: s.tls.serverName,
    serverRootCACertificate: read(s.tls.caFile),
    clientCertPair: crt !== undefined && key !== undefined ? { crt, key } : undefined,
  };
}

function unreachable(address: string, e: unknown): PipelineError {
  return new PipelineError(
    'TEMPORAL_UNREACHABLE',
    `Temporal server is not reachable at ${address}: ${errorMessage(e)}. Start one (robustok server start) or unset TEMPORAL_ADDRESS to let robustok start a local dev server`,
    { cause: e },
  );
}

export async function connectClient(s: TemporalSettings & { address: string }): Promise<Connection> {
  try {
    const conn = await Connection.connect({ address: s.address, tls: tlsConfig(s), connectTimeout: 5000 });
    await conn.healthService.check({});
    return conn;
  } catch (e) {
    throw unreachable(s.address, e);
  }
}

export async function connectWorker(s: TemporalSettings & { address: string }): Promise<NativeConnection> {
  installRuntime();
  try {
    return await NativeConnection.connect({ address: s.address, tls: tlsConfig(s) });
  } catch (e) {
    throw unreachable(s.address, e);
  }
}
