/**
 * ArtifactStore over MinIO (or any S3) through the `minio` client. S3 makes an object
 * visible only when its upload completes, so writes are atomic without a rename.
 */
import { Client, CopyConditions } from 'minio';
import type { Readable } from 'node:stream';
import { PipelineError, errorMessage } from '../core/errors';
import { addSecret } from '../core/redact';
import { hashing } from './hashing';
import { checkKey, type ArtifactRef, type ArtifactStore, type Body, type ObjectStat } from './store';

export interface MinioSettings {
  /** http(s)://host:port */
  readonly endpoint: string;
  readonly accessKey: string;
  readonly secretKey: string;
  readonly bucket: string;
  /** Key prefix inside the bucket ('' for the bucket root). */
  readonly prefix: string;
  readonly region?: string;
}

export class MinioStore implements ArtifactStore {
  readonly uri: string;
  private readonly client: Client;
  private bucketReady: Promise<void> | undefined;

  constructor(private readonly s: MinioSettings) {
    const url = new URL(s.endpoint);
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      useSSL: url.protocol === 'https:',
      accessKey: s.accessKey,
      secretKey: s.secretKey,
      region: s.region ?? 'us-east-1',
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

  async put(key: string, body: Body): Promise<ArtifactRef> {
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

  async get(key: string): Promise<Readable> {
    await this.ensureBucket();
    try {
      return await this.client.getObject(this.s.bucket, this.name(key));
    } catch (e) {
      throw this.wrap(e, `read '${key}'`, key);
    }
  }

  async getBytes(key: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.get(key)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async stat(key: string): Promise<ObjectStat | undefined> {
    await this.ensureBucket();
    try {
      const st = await this.client.statObject(this.s.bucket, this.name(key));
      return { key, bytes: st.size };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.wrap(e, `stat '${key}'`);
    }
  }

  async list(prefix: string): Promise<string[]> {
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

  async delete(key: string): Promise<void> {
    await this.ensureBucket();
    try {
      await this.client.removeObject(this.s.bucket, this.name(key));
    } catch (e) {
      throw this.wrap(e, `delete '${key}'`);
    }
  }

  async move(fromKey: string, toKey: string): Promise<void> {
    await this.ensureBucket();
    try {
      await this.client.copyObject(this.s.bucket, this.name(toKey), `/${this.s.bucket}/${this.name(fromKey)}`, new CopyConditions());
    } catch (e) {
      throw this.wrap(e, `move '${fromKey}' to '${toKey}'`, fromKey);
    }
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
    return new PipelineError('STORE_ERROR', `MinIO at ${this.s.endpoint} failed to ${what} in ${this.uri}: ${errorMessage(e)}`, { cause: e });
  }
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
