/** `robustok server provision|start`: obtain the server binaries; run both servers in the foreground. */
import path from 'node:path';
import { startMinioServer } from '../../infra/minio-server';
import { provision } from '../../infra/provision';
import { startTemporalDevServer } from '../../infra/temporal-server';
import { stateDir } from '../state-dir';

export async function provisionCommand(): Promise<number> {
  for (const name of ['temporal', 'minio'] as const) {
    const b = await provision(name, { log: (l) => console.error(l) });
    console.log(`${name}\t${b.version}\t${b.source}${b.origin && b.origin !== b.source ? ` (built by ${b.origin})` : ''}\t${b.path}`);
  }
  return 0;
}

export async function serverStartCommand(): Promise<number> {
  const dir = path.join(stateDir(), 'servers');
  const log = (l: string) => console.error(l);
  const temporal = await startTemporalDevServer({ dataDir: path.join(dir, 'temporal'), log });
  const minio = await startMinioServer({ dataDir: path.join(dir, 'minio'), log });
  console.log(`TEMPORAL_ADDRESS=${temporal.address}`);
  console.log(`ROBUSTOK_S3_ENDPOINT=${minio.endpoint}`);
  console.log('MinIO credentials: MINIO_ROOT_USER / MINIO_ROOT_PASSWORD from your environment (or generated; set them to choose).');
  console.log('Ctrl-C stops both.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await Promise.all([temporal.stop(), minio.stop()]);
  return 0;
}
