/**
 * A directory output with more files than fit inline (INLINE_FILES_MAX) crosses Temporal as a
 * reference to its producer's manifest, not as a file list: a dataset the size of ImageNet (1.28M
 * files, ~150 MB of listing) would otherwise exceed Temporal's 2 MB payload limit. The consumer still
 * gets every file, and a cached re-run passes the same reference.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { getBlobBytes } from '../../artifacts/cas';
import { INLINE_FILES_MAX } from '../../artifacts/output-listing';
import { commandRun, planOf, withLocalHarness } from '../helpers/pipeline-harness';

const MANY = path.resolve(__dirname, '..', 'fixtures', 'commands', 'many-files.js');
const N = INLINE_FILES_MAX + 200;

test(`a ${N}-file directory output travels by reference; the consumer sees every file`, async () => {
  await withLocalHarness('large-dir', async (h, store) => {
    const plan = planOf([
      commandRun('make', { config: { argv: ['node', MANY, 'make', '${outputs.out}', String(N)], outputs: { out: 'data' } }, outputs: ['out'] }),
      commandRun('count', {
        config: { argv: ['node', MANY, 'count', '${inputs.x}', '${outputs.out}'], outputs: { out: 'n.txt' } },
        inputs: { x: { run: 'make', output: 'out' } },
        outputs: ['out'],
      }),
    ]);
    for (const expected of ['ran', 'cached']) {
      const record = await h.run(plan);
      assert.equal(record.outcome, 'succeeded', JSON.stringify(record.stages));
      const made = record.stages.find((s) => s.id === 'make');
      assert.equal(made?.outcome, expected);
      const out = made?.outputs.out as unknown as Record<string, unknown>;
      assert.equal(out.files, undefined, 'no file list in the workflow result');
      assert.equal(out.fileCount, N);
      assert.deepEqual(out.listing, { key: made?.key, output: 'out' });
      const counted = record.stages.find((s) => s.id === 'count')?.outputs.out;
      assert.ok(counted);
      assert.equal((await getBlobBytes(store, counted)).toString('utf8').trim(), String(N));
    }
  });
});
