/**
 * Fault: a stored output blob is corrupted in place with bytes of the SAME size. The cache lookup
 * noticed and reran the producer, but before the fix the upload skipped a same-size blob already
 * under the digest's key, so the corrupt bytes stayed and every consumer failed with
 * DIGEST_MISMATCH, run after run. Now the upload replaces the blob, and a reader that finds one
 * corrupt moves it aside to quarantine/ with a warning. Both stores, on the real servers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { materialise } from '../../artifacts/outputs';
import { blobKey, putBlob, verifyBlob } from '../../artifacts/cas';
import { LocalDirStore } from '../../artifacts/local-store';
import { manifestKey, type Manifest } from '../../artifacts/manifest';
import { MinioStore } from '../../artifacts/minio-store';
import type { ArtifactStore } from '../../artifacts/store';
import { isPipelineError } from '../../core/errors';
import { commandRun, pipelineHarness, planOf, type Harness } from '../helpers/pipeline-harness';
import { tempDir, testMinio, uniqueBucket } from '../helpers/servers';

const TREE = path.resolve(__dirname, '..', 'fixtures', 'commands', 'tree.js');

/** The same number of bytes, every one different: what bit rot or a careless copy leaves. */
async function corruptInPlace(store: ArtifactStore, digest: string): Promise<void> {
  const good = await store.getBytes(blobKey(digest));
  await store.put(blobKey(digest), Buffer.from(good.map((b) => b ^ 0xff)));
  assert.equal((await store.stat(blobKey(digest)))?.bytes, good.length);
}

async function until(what: string, ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

for (const kind of ['MinIO', 'local dir'] as const) {
  let store: ArtifactStore;
  let harness: Harness;
  before(async () => {
    store =
      kind === 'MinIO'
        ? new MinioStore({ ...(await testMinio()), bucket: uniqueBucket('faults-blob'), prefix: 'p' })
        : new LocalDirStore(await tempDir('faults-blob'));
    harness = await pipelineHarness(store);
  });
  after(() => harness.close());

  test(`${kind}: an upload repairs a same-size corrupt blob; a read quarantines one`, async () => {
    const blob = await putBlob(store, `payload ${randomUUID()}`);
    await corruptInPlace(store, blob.digest);
    assert.match((await verifyBlob(store, blob)) ?? '', /now hashes to .* moved aside to quarantine\/sha256\//);
    assert.equal(await store.stat(blobKey(blob.digest)), undefined, 'the corrupt copy is out of the way');
    const quarantined = await store.list('quarantine/sha256/');
    assert.ok(
      quarantined.some((k) => k.includes(blob.digest)),
      quarantined.join(', '),
    );

    // Corrupt again, and this time upload the same content over it: the good bytes come back.
    await putBlob(store, `payload again ${blob.digest}`).then(async (b2) => {
      await corruptInPlace(store, b2.digest);
      await putBlob(store, `payload again ${blob.digest}`);
      assert.equal(await verifyBlob(store, b2), undefined);
    });

    // A reader streaming a corrupt blob fails with DIGEST_MISMATCH and moves it aside.
    const b3 = await putBlob(store, `streamed ${randomUUID()}`);
    await corruptInPlace(store, b3.digest);
    const dest = path.join(await tempDir('dest'), 'f.txt');
    await assert.rejects(
      materialise(store, { type: 'file', digest: b3.digest, bytes: b3.bytes }, dest),
      (e) => isPipelineError(e, 'DIGEST_MISMATCH') && /quarantine/.test(e.message),
    );
    await until('the streamed corrupt blob to be quarantined', async () => (await store.stat(blobKey(b3.digest))) === undefined);
  });

  test(`${kind}: a pipeline whose output blob was corrupted at the same size reruns the producer, repairs the blob, and consumers succeed`, async () => {
    const tag = randomUUID().slice(0, 8);
    const plan = (useText: string) =>
      planOf([
        commandRun('make', { config: { argv: ['node', TREE, '${outputs.out}', `made-${tag}`], outputs: { out: 'tree' } }, outputs: ['out'] }),
        commandRun('use', {
          config: { argv: ['node', TREE, '${outputs.out}', useText, '${inputs.x}/a.txt'], outputs: { out: 'tree' } },
          inputs: { x: { run: 'make', output: 'out' } },
          outputs: ['out'],
        }),
      ]);
    const first = await harness.run(plan('one'));
    assert.equal(first.outcome, 'succeeded', JSON.stringify(first.stages));
    const makeKey = first.stages.find((s) => s.id === 'make')?.key;
    assert.ok(makeKey);
    const manifest = JSON.parse((await store.getBytes(manifestKey(makeKey))).toString('utf8')) as Manifest;
    const out = manifest.outputs.out;
    assert.equal(out?.type, 'dir');
    const aTxt = out.files.find((f) => f.path === 'a.txt');
    assert.ok(aTxt);
    await corruptInPlace(store, aTxt.digest);

    // A changed consumer must materialise make's output: before the fix, DIGEST_MISMATCH here on every run.
    for (const text of ['two', 'three']) {
      const again = await harness.run(plan(`${text}-${tag}`));
      assert.equal(again.outcome, 'succeeded', JSON.stringify(again.stages));
      const make = again.stages.find((s) => s.id === 'make');
      if (text === 'two') {
        assert.equal(make?.outcome, 'ran');
        assert.match(make.warnings?.join('\n') ?? '', /is unusable .*now hashes to .*moved aside to quarantine\//);
      } else {
        assert.equal(make?.outcome, 'cached', 'the repaired entry is a hit');
      }
      assert.equal(again.stages.find((s) => s.id === 'use')?.outcome, 'ran');
    }
    assert.equal(await verifyBlob(store, aTxt), undefined, 'the blob holds its good bytes again');
  });
}
