/**
 * When Temporal or MinIO is down, every path that needs it fails with a message naming the
 * missing server and how to fix it (never a skip, never a hang).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MinioStore } from '../../artifacts/minio-store';
import { isPipelineError } from '../../core/errors';
import { connectClient } from '../../cli/temporal-settings';
import { startMinioServer } from '../../infra/minio-server';
import { startTemporalDevServer } from '../../infra/temporal-server';
import { tempDir } from '../helpers/servers';

test('a stopped MinIO makes store operations fail with MINIO_UNREACHABLE naming MinIO and its endpoint', async () => {
  const server = await startMinioServer({ dataDir: await tempDir('minio-stop') });
  // A short retry budget: the default waits out outages of minutes (test/faults/store-outage.test.ts).
  const store = new MinioStore({
    endpoint: server.endpoint,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    bucket: 'stopped',
    prefix: '',
    retry: { maxMs: 1_000, baseMs: 200, capMs: 500 },
  });
  await store.put('alive.txt', 'x');
  await server.stop();
  await assert.rejects(store.put('after-stop.txt', 'y'), (e: unknown) => {
    assert.ok(isPipelineError(e, 'MINIO_UNREACHABLE'), String(e));
    assert.match(e.message, /MinIO is not reachable at http:\/\/127\.0\.0\.1:\d+/);
    assert.doesNotMatch(e.message, new RegExp(server.secretKey));
    return true;
  });
});

test('a stopped Temporal server makes connecting fail with TEMPORAL_UNREACHABLE naming Temporal and its address', async () => {
  const server = await startTemporalDevServer({ dataDir: await tempDir('temporal-stop') });
  const conn = await connectClient({ address: server.address, namespace: server.namespace });
  await conn.close();
  await server.stop();
  await assert.rejects(connectClient({ address: server.address, namespace: server.namespace }), (e: unknown) => {
    assert.ok(isPipelineError(e, 'TEMPORAL_UNREACHABLE'), String(e));
    assert.match(e.message, new RegExp(`Temporal server is not reachable at ${server.address.replace(/\./g, '\\.')}`));
    return true;
  });
});

test('the test helpers refuse a configured but dead server instead of skipping', async () => {
  const { execFile } = await import('node:child_process');
  const run = (env: NodeJS.ProcessEnv) =>
    new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          "const m = require('./test/helpers/servers'); (async () => { try { await m.testMinio(); await m.testTemporal(); console.log('reached'); } catch (e) { console.log(String(e)); } })()",
        ],
        { env: { ...process.env, ...env } },
        (_err, out) => resolve(out),
      );
    });
  const noMinio = await run({ ROBUSTOK_S3_ENDPOINT: 'http://127.0.0.1:9', TEMPORAL_ADDRESS: '127.0.0.1:9' });
  assert.match(noMinio, /MinIO server is not reachable at http:\/\/127\.0\.0\.1:9/);
  const noTemporal = await run({ ROBUSTOK_S3_ENDPOINT: '', TEMPORAL_ADDRESS: '127.0.0.1:9' });
  assert.match(noTemporal, /Temporal server is not reachable at 127\.0\.0\.1:9/);
});
