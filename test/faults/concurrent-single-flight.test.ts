/**
 * Fault (issue 13, item 12): two runs started at the same time that share a stage key. Before, each
 * run's worker executed the stage (single flight held only within one run). Now the attempts meet in
 * the store (artifacts/single-flight.ts): one computes, the other waits for its manifest and reuses
 * it. Two harnesses stand for two users' CLIs: separate workers and queues, one MinIO store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MinioStore } from '../../artifacts/minio-store';
import { commandRun, pipelineHarness, planOf } from '../helpers/pipeline-harness';
import { tempDir, testMinio, uniqueBucket } from '../helpers/servers';

const STEP = path.resolve(__dirname, '..', 'fixtures', 'commands', 'step.js');

test('identical stage runs of two concurrent runs execute once; both runs succeed with the same outputs', async () => {
  const store = new MinioStore({ ...(await testMinio()), bucket: uniqueBucket('single-flight'), prefix: 'p' });
  const dir = await tempDir('single-flight');
  const counter = path.join(dir, 'count.txt');
  // The program sleeps 3 s, so the second run reaches the stage while the first is still at it.
  const config = { argv: ['node', STEP, counter, 'slow', 'made once', '${outputs.out}'], outputs: { out: 'file' }, env: { STEP_SLEEP_MS: '3000' } };
  const plan = planOf([
    commandRun('slow', { config, outputs: ['out'] }),
    commandRun('after', {
      config: { argv: ['node', STEP, counter, 'after', 'then', '${outputs.out}', '${inputs.x}'], outputs: { out: 'file' } },
      inputs: { x: { run: 'slow', output: 'out' } },
      outputs: ['out'],
    }),
  ]);
  const [a, b] = await Promise.all([pipelineHarness(store), pipelineHarness(store)]);
  try {
    const [ra, rb] = await Promise.all([a.run(plan), b.run(plan)]);
    assert.equal(ra.outcome, 'succeeded');
    assert.equal(rb.outcome, 'succeeded');
    const lines = (await readFile(counter, 'utf8')).trim().split('\n');
    assert.deepEqual(
      lines.filter((l) => l === 'slow'),
      ['slow'],
      `the shared stage ran ${lines.filter((l) => l === 'slow').length} times`,
    );
    assert.deepEqual(
      lines.filter((l) => l === 'after'),
      ['after'],
      'and so did the one after it',
    );
    const outA = ra.stages.find((s) => s.stageId === 'slow')?.outputs.out?.digest;
    assert.ok(outA !== undefined);
    assert.equal(rb.stages.find((s) => s.stageId === 'slow')?.outputs.out?.digest, outA);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
