/**
 * ArtifactStore over MinIO (or any S3) through the `minio` client. S3 makes an object
 * visible only when its upload completes, so writes are atomic without a rename.
 * Every operation waits out an outage (store-retry.ts); a request the server stops answering
 * (a paused or wedged server accepts connections and says nothing) counts as unreachable after
 * `timeoutMs` of silence instead of hanging forever.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { Client, CopyConditions } from 'minio';
import { Readable } from 'node:stream';
import { PipelineError, errorMessage } from '../core/errors';
import { addSecret } from '../core/redact';
import { hashing } from './hashing';
import { checkKey, type ArtifactRef, type ArtifactStore, type Body, type BodySource, type ObjectStat } from './store';
import { retrier, retryPolicyFromEnv, type Retrier, type RetryPolicy } from './store-retry';

/** A request silent this long (no byte either way) is given up and retried. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;

export interface MinioSettings {
  /** http(s)://host:port */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  /** Key prefix inside the bucket ('' for the bucket root). */
  readonly prefix: string;
  readonly region?: string;
  /** Retries through outages (default: from ROBUSTOK_STORE_RETRY_MAX). */
  readonly retry?: RetryPolicy;
  /** Silence after which a request is abandoned (default DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly requestTimeoutMs?: number;
}

export class MinioStore implements ArtifactStore {
  readonly uri: string;
  private readonly client: Client;
  private bucketReady: Promise<void> | undefined;
  private readonly retries: Retrier;
  private lastRetryWarning = 0;

  constructor(private readonly s: MinioSettings) {
    const url = new URL(s.endpoint);
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      useSSL: url.protocol === 'https:',
      accessKey: s.accessKey,
      secretKey: s.secretKey,
      region: s.region ?? 'us-east-1',
      transportAgent: silenceLimitedAgent(url.protocol === 'https:', s.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    });
    this.retries = retrier(s.retry ?? retryPolicyFromEnv(), (what, e, waitMs) => {
      // One line per outage-ish interval, not one per request: many requests wait at once.
      if (Date.now() - this.lastRetryWarning < 30_000) return;
      this.lastRetryWarning = Date.now();
      console.warn(
        `store ${this.uri}: could not ${what} (${e.code}); retrying in ${Math.round(waitMs / 100) / 10} s and for up to ${Math.round((s.retry ?? retryPolicyFromEnv()).maxMs / 1000)} s per operation`,
      );
    });
    this.uri = `s3://${s.bucket}${s.prefix === '' ? '' : `/${s.prefix}`}`;
    // However they were given (env, flags, a test), these credentials never appear in a message.
    addSecret(s.secretKey);
    addSecret(s.accessKey);
  }

  private name(key: string): string {
    return this.s.prefix === '' ? checkKey(key) : `${this.s.prefix}/${checkKey(key)}`;
  }

  /** Creates the bucket on first use; maps connection failures to MINIO_UNREACHABLE. */
  ensureBucket(): Promise<void> {
    this.bucketReady ??= (async () => {
      try {
        if (!(await this.client.bucketExists(this.s.bucket))) await this.client.makeBucket(this.s.bucket);
      } catch (e) {
        this.bucketReady = undefined;
        throw this.wrap(e, `open bucket '${this.s.bucket}'`);
      }
    })();
    return this.bucketReady;
  }

  async put(key: string, body: BodySource): Promise<ArtifactRef> {
    // A stream can be read once: only a body that can be produced again is retried.
    if (body instanceof Readable) return this.putOnce(key, body);
    return this.retries.run(`write '${key}'`, () => this.putOnce(key, typeof body === 'function' ? body() : body));
  }

  private async putOnce(key: string, body: Body): Promise<ArtifactRef> {
    await this.ensureBucket();
    const h = hashing(body);
    // A failing source must reject the put (the client does not always listen for it); S3 then
    // never completes the object, so nothing partial becomes visible.
    const sourceFailed = new Promise<never>((_, reject) => h.stream.once('error', reject));
    try {
      await Promise.race([this.client.putObject(this.s.bucket, this.name(key), h.stream), sourceFailed]);
    } catch (e) {
      h.stream.destroy();
      throw this.wrap(e, `write '${key}'`);
    }
    return { key, ...h.result() };
  }

  get(key: string): Promise<Readable> {
    return this.retries.run(`read '${key}'`, () => this.open(key));
  }

  private async open(key: string): Promise<Readable> {
    await this.ensureBucket();
    try {
      return await this.client.getObject(this.s.bucket, this.name(key));
    } catch (e) {
      throw this.wrap(e, `read '${key}'`, key);
    }
  }

  getBytes(key: string): Promise<Buffer> {
    // Small objects: the whole read is retried, so a connection lost mid-body is retried too.
    return this.retries.run(`read '${key}'`, async () => {
      const chunks: Buffer[] = [];
      try {
        for await (const c of await this.open(key)) chunks.push(c as Buffer);
      } catch (e) {
        throw e instanceof PipelineError ? e : this.wrap(e, `read '${key}'`);
      }
      return Buffer.concat(chunks);
    });
  }

  stat(key: string): Promise<ObjectStat | undefined> {
    return this.retries.run(`stat '${key}'`, () => this.statOnce(key));
  }

  private async statOnce(key: string): Promise<ObjectStat | undefined> {
    await this.ensureBucket();
    try {
      const st = await this.client.statObject(this.s.bucket, this.name(key));
      return { key, bytes: st.size, modifiedMs: st.lastModified.getTime() };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.wrap(e, `stat '${key}'`);
    }
  }

  list(prefix: string): Promise<string[]> {
    return this.retries.run(`list '${prefix}'`, () => this.listOnce(prefix));
  }

  private async listOnce(prefix: string): Promise<string[]> {
    await this.ensureBucket();
    const full = this.s.prefix === '' ? prefix : `${this.s.prefix}/${prefix}`;
    const strip = this.s.prefix === '' ? 0 : this.s.prefix.length + 1;
    const out: string[] = [];
    try {
      const stream = this.client.listObjectsV2(this.s.bucket, full, true);
      for await (const item of stream) {
        const name = (item as { name?: string }).name;
        if (name !== undefined) out.push(name.slice(strip));
      }
    } catch (e) {
      throw this.wrap(e, `list '${prefix}'`);
    }
    return out.sort();
  }

  delete(key: string): Promise<void> {
    return this.retries.run(`delete '${key}'`, async () => {
      await this.ensureBucket();
      try {
        await this.client.removeObject(this.s.bucket, this.name(key));
      } catch (e) {
        throw this.wrap(e, `delete '${key}'`);
      }
    });
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    // Copying again after a lost answer is harmless: the source stays until the copy is confirmed.
    await this.retries.run(`move '${fromKey}' to '${toKey}'`, async () => {
      await this.ensureBucket();
      try {
        await this.client.copyObject(this.s.bucket, this.name(toKey), `/${this.s.bucket}/${this.name(fromKey)}`, new CopyConditions());
      } catch (e) {
        throw this.wrap(e, `move '${fromKey}' to '${toKey}'`, fromKey);
      }
    });
    await this.delete(fromKey);
  }

  private wrap(e: unknown, what: string, key?: string): PipelineError {
    if (key !== undefined && isNotFound(e)) {
      return new PipelineError('ARTIFACT_MISSING', `artifact '${key}' is not in the store ${this.uri}; rerun the stage that produces it`, { cause: e });
    }
    if (isConnectionError(e)) {
      return new PipelineError(
        'MINIO_UNREACHABLE',
        `MinIO is not reachable at ${this.s.endpoint} (could not ${what}): start it (npm run provision && robustok server start) or set ROBUSTOK_S3_ENDPOINT to a running server`,
        { cause: e },
      );
    }
    if (isAuthError(e)) {
      return new PipelineError(
        'STORE_AUTH',
        `MinIO at ${this.s.endpoint} refused the credentials to ${what} in ${this.uri} (${(e as { code?: string }).code ?? 'denied'}: ${errorMessage(e)}): set ROBUSTOK_S3_ACCESS_KEY and ROBUSTOK_S3_SECRET_KEY to a user of that server with read/write access to bucket '${this.s.bucket}' (for a server started by 'robustok server start': the credentials it printed)`,
        { cause: e },
      );
    }
    return new PipelineError('STORE_ERROR', `MinIO at ${this.s.endpoint} failed to ${what} in ${this.uri}: ${errorMessage(e)}`, {
      cause: e,
      details: { transient: isBusy(e) },
    });
  }
}

/** Wrong or unknown credentials, or a user without access: no retry can fix these. */
function isAuthError(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  return ['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken', 'AllAccessDisabled'].includes(code);
}

/** The server answered "not now" (starting up, overloaded, 5xx): another try may succeed. */
function isBusy(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  const busy = ['XMinioServerNotInitialized', 'ServiceUnavailable', 'SlowDown', 'InternalError', 'RequestTimeout'];
  return busy.includes(code) || /Retryable HTTP status|Request failed after \d+ retries/.test(errorMessage(e));
}

/**
 * An HTTP(S) agent whose sockets give up after `ms` without a byte either way. The minio client
 * sets no timeout, so a paused server (the kernel still accepts the connection) hung a request
 * forever; now it fails as ETIMEDOUT, which counts as unreachable and is retried.
 */
function silenceLimitedAgent(secure: boolean, ms: number): http.Agent {
  // The agent's `timeout` is (re)applied to each socket whenever it is created or reused.
  const agent = secure ? new https.Agent({ keepAlive: true, timeout: ms }) : new http.Agent({ keepAlive: true, timeout: ms });
  const create = (agent as unknown as { createConnection: (o: unknown, cb?: unknown) => Socket }).createConnection.bind(agent);
  (agent as unknown as { createConnection: (o: unknown, cb?: unknown) => Socket }).createConnection = (o, cb) => {
    const socket = create(o, cb);
    socket.on('timeout', () => socket.destroy(Object.assign(new Error(`no answer for ${ms / 1000} s`), { code: 'ETIMEDOUT' })));
    return socket;
  };
  return agent;
}

function isNotFound(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchBucket';
}

function isConnectionError(e: unknown): boolean {
  const code = (e as { code?: string }).code;
  const cause = (e as { cause?: { code?: string } }).cause?.code;
  const conn = ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE'];
  return conn.includes(code ?? '') || conn.includes(cause ?? '') || (e instanceof AggregateError && e.errors.some(isConnectionError));
}
