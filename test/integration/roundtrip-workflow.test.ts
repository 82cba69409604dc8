/** The first vertical slice on the real servers: workflow → activity → store → read back → sha256. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { LocalDirStore } from '../../artifacts/local-store';
import { MinioStore } from '../../artifacts/minio-store';
import type { ArtifactStore } from '../../artifacts/store';
import { connectClient, connectWorker } from '../../cli/temporal-settings';
import { createDemoWorker } from '../../cli/demo-worker';
import type { roundTripWorkflow } from '../../workflows/roundtrip';
import { tempDir, testMinio, testTemporal, uniqueBucket } from '../helpers/servers';

async function roundTrip(store: ArtifactStore, text: string) {
  const t = await testTemporal();
  const settings = { address: t.address, namespace: t.namespace };
  const clientConn = await connectClient(settings);
  const workerConn = await connectWorker(settings);
  const taskQueue = `rt-${randomUUID()}`;
  const worker = await createDemoWorker({ connection: workerConn, namespace: t.namespace, taskQueue, store, shutdownGraceTime: '1s' });
  const client = new Client({ connection: clientConn, namespace: t.namespace });
  try {
    return await worker.runUntil(
      client.workflow.execute<typeof roundTripWorkflow>('roundTripWorkflow', {
        taskQueue,
        workflowId: `rt-${randomUUID()}`,
        args: [{ key: `slice/${randomUUID()}.txt`, text }],
      }),
    );
  } finally {
    await workerConn.close();
    await clientConn.close();
  }
}

test('round trip through MinIO verifies the sha256 of what was written', async () => {
  const m = await testMinio();
  const store = new MinioStore({ ...m, bucket: uniqueBucket('slice'), prefix: '' });
  const text = `payload ${randomUUID()}\n`.repeat(100);
  const result = await roundTrip(store, text);
  assert.equal(result.ref.digest, createHash('sha256').update(text).digest('hex'));
  assert.equal(result.readBackDigest, result.ref.digest);
  assert.equal(result.ref.bytes, Buffer.byteLength(text));
  assert.match(result.storeUri, /^s3:\/\/slice-/);
  assert.equal((await store.getBytes(result.ref.key)).toString(), text);
});

test('round trip through a local directory store', async () => {
  const store = new LocalDirStore(await tempDir('slice'));
  const result = await roundTrip(store, 'local payload');
  assert.equal(result.readBackDigest, createHash('sha256').update('local payload').digest('hex'));
});

test('an object changed behind the store fails the workflow with DIGEST_MISMATCH, without retries', async () => {
  const dir = await tempDir('slice-corrupt');
  const real = new LocalDirStore(dir);
  // A store whose reads return other bytes than were written: what a corrupted disk looks like.
  const corrupting: ArtifactStore = {
    uri: real.uri,
    put: (k, b) => real.put(k, b),
    get: async (k) => {
      await real.put(k, 'tampered');
      return real.get(k);
    },
    getBytes: (k) => real.getBytes(k),
    stat: (k) => real.stat(k),
    list: (p) => real.list(p),
    delete: (k) => real.delete(k),
    move: (a, b) => real.move(a, b),
  };
  await assert.rejects(roundTrip(corrupting, 'original'), (e: unknown) => {
    assert.ok(e instanceof WorkflowFailedError);
    const cause = e.cause?.cause as { type?: string; message?: string } | undefined;
    assert.equal(cause?.type, 'DIGEST_MISMATCH');
    assert.match(cause?.message ?? '', /reads back as sha256/);
    return true;
  });
});
