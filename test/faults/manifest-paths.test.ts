/**
 * Fault: a manifest (or checkpoint entry) in the store is edited so that a directory output lists
 * a file at `../../…` or at an absolute path. Before the fix a worker materialising that output
 * wrote the file wherever the path pointed. Now such an entry is corrupt: a cache lookup treats it
 * as a miss with a warning (and recomputes), materialising it is ENTRY_CORRUPT (never retried),
 * and nothing is written outside the destination. Both stores, on the real servers.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { materialise } from '../../artifacts/outputs';
import { putBlob } from '../../artifacts/cas';
import { LocalDirStore } from '../../artifacts/local-store';
import { manifestKey, type FileEntry, type Manifest, type OutputEntry } from '../../artifacts/manifest';
import { MinioStore } from '../../artifacts/minio-store';
import type { ArtifactStore } from '../../artifacts/store';
import { digestJson } from '../../core/digest';
import { isPipelineError } from '../../core/errors';
import { cacheKey, keyMaterial } from '../../plan/cache-key';
import { commandRun, pipelineHarness, planOf, type Harness } from '../helpers/pipeline-harness';
import { tempDir, testMinio, uniqueBucket } from '../helpers/servers';

const TREE = path.resolve(__dirname, '..', 'fixtures', 'commands', 'tree.js');
const TRAIN = path.resolve(__dirname, '..', 'fixtures', 'commands', 'train-steps.js');

/** Paths that would land outside any destination: one climbing to / and down into tmp, one absolute. */
function escapes(): { climb: string; absolute: string; landings: string[] } {
  const tag = randomUUID().slice(0, 8);
  const climbTo = path.join(os.tmpdir(), `robustok-escape-climb-${tag}`);
  const absolute = path.join(os.tmpdir(), `robustok-escape-abs-${tag}`);
  const climb = `${'../'.repeat(40)}${climbTo.slice(1)}`;
  return { climb, absolute, landings: [climbTo, absolute] };
}

/** A directory entry whose first file is renamed to `bad`, its digest recomputed as a careful forger would. */
function forged(entry: OutputEntry, bad: string): OutputEntry {
  assert.equal(entry.type, 'dir');
  const files: FileEntry[] = entry.files.map((f, i) => (i === 0 ? { ...f, path: bad } : f));
  return { ...entry, files, digest: digestJson(files) };
}

const nothingAt = (landings: string[]) => {
  for (const p of landings) assert.equal(existsSync(p), false, `a file was written outside the destination: ${p}`);
};

for (const kind of ['MinIO', 'local dir'] as const) {
  let store: ArtifactStore;
  let harness: Harness;
  before(async () => {
    store =
      kind === 'MinIO'
        ? new MinioStore({ ...(await testMinio()), bucket: uniqueBucket('faults-paths'), prefix: 'p' })
        : new LocalDirStore(await tempDir('faults-paths'));
    harness = await pipelineHarness(store);
  });
  after(() => harness.close());

  test(`${kind}: materialising an entry with '..', absolute, backslash or NUL paths writes nothing and is ENTRY_CORRUPT naming the entry`, async () => {
    const blob = await putBlob(store, 'payload');
    const { climb, absolute, landings } = escapes();
    const bads = [climb, absolute, 'a/../../x', 'a\\..\\..\\x', 'a\u0000b', './a', 'a//b', 'C:/x'];
    for (const bad of bads) {
      const files = [{ path: bad, digest: blob.digest, bytes: blob.bytes }];
      const entry: OutputEntry = { type: 'dir', digest: digestJson(files), bytes: blob.bytes, files };
      const dest = path.join(await tempDir('dest'), 'inputs', 'x');
      await assert.rejects(materialise(store, entry, dest, "input 'x' of stage use"), (e) => {
        assert.ok(isPipelineError(e, 'ENTRY_CORRUPT'), `${JSON.stringify(bad)}: ${String(e)}`);
        assert.match(e.message, /input 'x' of stage use is corrupt or unsafe/);
        assert.equal(e.retryable, false);
        return true;
      });
      // Checked before the first write: not even the destination directory exists.
      assert.equal(existsSync(path.dirname(dest)), false, bad);
    }
    nothingAt(landings);
  });

  test(`${kind}: materialising never writes through a symlink already inside the destination`, async () => {
    const blob = await putBlob(store, 'payload');
    const outside = await tempDir('outside');
    const dest = path.join(await tempDir('dest'), 'x');
    await mkdir(dest);
    await symlink(outside, path.join(dest, 'sub'));
    const files = [{ path: 'sub/f.txt', digest: blob.digest, bytes: blob.bytes }];
    await assert.rejects(materialise(store, { type: 'dir', digest: digestJson(files), bytes: blob.bytes, files }, dest), /not a plain directory/);
    await symlink(path.join(outside, 'g.txt'), path.join(dest, 'g.txt'));
    const files2 = [{ path: 'g.txt', digest: blob.digest, bytes: blob.bytes }];
    await assert.rejects(materialise(store, { type: 'dir', digest: digestJson(files2), bytes: blob.bytes, files: files2 }, dest), /already exists/);
    assert.deepEqual(await readdir(outside), []);
  });

  test(`${kind}: a manifest edited to '..' / absolute paths is a corrupt entry: warned about, recomputed, nothing written outside`, async () => {
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
    assert.equal(first.outcome, 'succeeded');
    const make = first.stages.find((s) => s.id === 'make');
    assert.ok(make?.key);
    const good = JSON.parse((await store.getBytes(manifestKey(make.key))).toString('utf8')) as Manifest;
    const { climb, absolute, landings } = escapes();
    for (const bad of [climb, absolute]) {
      await store.put(manifestKey(make.key), JSON.stringify({ ...good, outputs: { out: forged(good.outputs.out as OutputEntry, bad) } }));
      // A changed consumer must run, so it materialises make's output (the forged one, before the fix).
      const again = await harness.run(plan(`two-${bad.length}`));
      assert.equal(again.outcome, 'succeeded', JSON.stringify(again.stages));
      const make2 = again.stages.find((s) => s.id === 'make');
      assert.equal(make2?.outcome, 'ran');
      assert.match(make2.warnings?.join('\n') ?? '', /is unusable \(manifest runs\/.*output 'out': path .* (climbs out of its directory|is absolute)/);
      assert.equal(again.stages.find((s) => s.id === 'use')?.outcome, 'ran');
      nothingAt(landings);
    }
  });

  test(`${kind}: a checkpoint entry with an escaping path fails the stage at once with ENTRY_CORRUPT; nothing written outside`, async () => {
    const journal = path.join(await tempDir('journal'), 'j.txt');
    const run = commandRun('train', {
      config: { argv: ['node', TRAIN, '3', '10', journal, '${outputs.out}'], outputs: { out: 'o.txt' } },
      outputs: ['out'],
      maximumAttempts: 3,
    });
    const key = cacheKey(keyMaterial(run, {}));
    const blob = await putBlob(store, JSON.stringify({ step: 2, sum: 3 }));
    const { absolute, climb, landings } = escapes();
    const files = [
      { path: climb, digest: blob.digest, bytes: blob.bytes },
      { path: absolute, digest: blob.digest, bytes: blob.bytes },
    ];
    const ckptKey = `runs/${key}/checkpoints/attempt-1/step-2.json`;
    await store.put(ckptKey, JSON.stringify({ type: 'dir', digest: digestJson(files), bytes: 2 * blob.bytes, files }));
    const r = await harness.run(planOf([run]));
    const s = r.stages.find((x) => x.id === 'train');
    assert.equal(s?.outcome, 'failed');
    assert.equal(s.error?.code, 'ENTRY_CORRUPT');
    assert.ok(s.error.message.includes(ckptKey), s.error.message);
    assert.equal(s.attempts, 1);
    nothingAt(landings);
    assert.equal(existsSync(journal), false, 'the program must not start on a corrupt checkpoint');
  });
}
