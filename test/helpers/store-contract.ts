/**
 * The ArtifactStore contract: every implementation must pass these same checks
 * (local directory and MinIO run them in test/integration/artifact-store.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { isPipelineError } from '../../core/errors';
import type { ArtifactStore } from '../../artifacts/store';
import { sha256OfStream } from '../../artifacts/hashing';

export function storeContract(label: string, open: () => Promise<ArtifactStore>): void {
  test(`${label}: put returns the sha256 and size computed while streaming`, async () => {
    const store = await open();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    // Many small chunks: the digest must cover all of them in order.
    const chunks = Array.from({ length: 50 }, (_, i) => data.subarray(Math.floor((i * data.length) / 50), Math.floor(((i + 1) * data.length) / 50)));
    const ref = await store.put('a/b/blob.bin', Readable.from(chunks));
    assert.equal(ref.digest, createHash('sha256').update(data).digest('hex'));
    assert.equal(ref.bytes, data.length);
    const back = await sha256OfStream(await store.get('a/b/blob.bin'));
    assert.deepEqual(back, { digest: ref.digest, bytes: ref.bytes });
    assert.deepEqual(await store.getBytes('a/b/blob.bin'), data);
  });

  test(`${label}: stat, list (recursive, sorted, by prefix) and delete`, async () => {
    const store = await open();
    await store.put('runs/k1/manifest.json', '{"x":1}');
    await store.put('runs/k1/out/z.txt', 'z');
    await store.put('runs/k2/manifest.json', '{}');
    await store.put('other/x', 'x');
    const before = Date.now();
    const st = await store.stat('runs/k1/manifest.json');
    assert.deepEqual({ key: st?.key, bytes: st?.bytes }, { key: 'runs/k1/manifest.json', bytes: 7 });
    // Coarse clocks (S3 keeps seconds): written within the last minute, not in the future.
    assert.ok(st?.modifiedMs !== undefined && st.modifiedMs > before - 60_000 && st.modifiedMs <= Date.now() + 1_000, `modifiedMs ${String(st?.modifiedMs)}`);
    assert.equal(await store.stat('runs/k9/manifest.json'), undefined);
    assert.deepEqual(await store.list('runs/k1/'), ['runs/k1/manifest.json', 'runs/k1/out/z.txt']);
    assert.deepEqual(await store.list('runs/'), ['runs/k1/manifest.json', 'runs/k1/out/z.txt', 'runs/k2/manifest.json']);
    await store.delete('runs/k1/out/z.txt');
    await store.delete('runs/k1/never-existed');
    assert.deepEqual(await store.list('runs/k1/'), ['runs/k1/manifest.json']);
  });

  test(`${label}: overwrite replaces the whole object`, async () => {
    const store = await open();
    await store.put('same', 'first version, long');
    const ref = await store.put('same', 'second');
    assert.equal((await store.getBytes('same')).toString(), 'second');
    assert.equal(ref.bytes, 6);
  });

  test(`${label}: move puts the object under the new key and removes the old one`, async () => {
    const store = await open();
    await store.put('tmp/upload-1', 'moved content');
    await store.move('tmp/upload-1', 'final/place.txt');
    assert.equal((await store.getBytes('final/place.txt')).toString(), 'moved content');
    assert.equal(await store.stat('tmp/upload-1'), undefined);
    await assert.rejects(store.move('tmp/never', 'final/x'), (e: unknown) => isPipelineError(e, 'ARTIFACT_MISSING'));
  });

  test(`${label}: a missing key is ARTIFACT_MISSING naming the key`, async () => {
    const store = await open();
    await assert.rejects(store.getBytes('nope/missing.bin'), (e: unknown) => isPipelineError(e, 'ARTIFACT_MISSING') && /nope\/missing\.bin/.test(e.message));
    await assert.rejects(store.get('nope/missing.bin'), (e: unknown) => isPipelineError(e, 'ARTIFACT_MISSING'));
  });

  test(`${label}: a failing source stream leaves no object behind`, async () => {
    const store = await open();
    const failing = new Readable({
      read() {
        this.push(Buffer.alloc(1024, 1));
        this.destroy(new Error('source broke'));
      },
    });
    await assert.rejects(store.put('broken/obj', failing));
    assert.equal(await store.stat('broken/obj'), undefined);
    assert.deepEqual(await store.list('broken/'), []);
  });

  test(`${label}: keys that could escape the store are refused`, async () => {
    const store = await open();
    for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'dir/']) {
      await assert.rejects(store.put(bad, 'x'), /invalid artifact key/);
    }
  });
}
