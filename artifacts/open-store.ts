/**
 * Opens an ArtifactStore from a URI:
 *   file:///abs/dir | file:rel/dir | a plain path   → LocalDirStore
 *   s3://bucket[/prefix]                            → MinioStore, endpoint and credentials from env:
 *      ROBUSTOK_S3_ENDPOINT (http://host:port), ROBUSTOK_S3_ACCESS_KEY / ROBUSTOK_S3_SECRET_KEY
 *      (falling back to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), ROBUSTOK_S3_REGION.
 */
import { fileURLToPath } from 'node:url';
import { PipelineError } from '../core/errors';
import { LocalDirStore } from './local-store';
import type { MinioStore as MinioStoreClass } from './minio-store';
import type { ArtifactStore } from './store';

/**
 * The S3 store's module, loaded when an s3:// URI is opened: the minio client costs ~80 ms of start-up
 * that commands on a local store (plan, runs, …) need not pay. A require because openStore is synchronous.
 */
function minioStore(): typeof MinioStoreClass {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('./minio-store') as { MinioStore: typeof MinioStoreClass }).MinioStore;
}

export function openStore(uri: string, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  if (uri.startsWith('s3://')) {
    const rest = uri.slice('s3://'.length).replace(/\/+$/, '');
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1);
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new PipelineError('CONFIG_INVALID', `store URI ${uri}: '${bucket}' is not a valid bucket name (3–63 chars of a-z, 0-9, '.', '-')`);
    }
    const endpoint = env.ROBUSTOK_S3_ENDPOINT;
    const accessKey = env.ROBUSTOK_S3_ACCESS_KEY ?? env.AWS_ACCESS_KEY_ID;
    const secretKey = env.ROBUSTOK_S3_SECRET_KEY ?? env.AWS_SECRET_ACCESS_KEY;
    const missing = [
      endpoint ? undefined : 'ROBUSTOK_S3_ENDPOINT',
      accessKey ? undefined : 'ROBUSTOK_S3_ACCESS_KEY',
      secretKey ? undefined : 'ROBUSTOK_S3_SECRET_KEY',
    ].filter((x) => x !== undefined);
    if (!endpoint || !accessKey || !secretKey) {
      throw new PipelineError('CONFIG_INVALID', `store URI ${uri} needs ${missing.join(', ')} in the environment`);
    }
    return new (minioStore())({ endpoint, accessKey, secretKey, bucket, prefix, region: env.ROBUSTOK_S3_REGION });
  }
  if (uri.startsWith('file://')) return new LocalDirStore(fileURLToPath(uri));
  if (uri.startsWith('file:')) return new LocalDirStore(uri.slice('file:'.length));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(uri)) {
    throw new PipelineError('CONFIG_INVALID', `store URI ${uri}: unsupported scheme; use file:///dir or s3://bucket/prefix`);
  }
  return new LocalDirStore(uri);
}
