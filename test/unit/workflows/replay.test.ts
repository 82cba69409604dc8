/**
 * Replays saved histories of the pipeline workflow against today's workflow code. A change that
 * makes the workflow non-deterministic (it would break runs in flight during a deploy) fails here.
 * And a change to workflows/ that was never checked against fresh histories fails too: the
 * fixtures record the sha256 of the workflows/ sources they were recorded against
 * (test/fixtures/histories/README.md says how to re-record).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../../cli/worker';
import { installRuntime } from '../../../cli/runtime';
import { HISTORIES_DIR, RECORDED_AGAINST, RECORD_COMMAND, workflowSources, type RecordedAgainst } from '../../helpers/workflow-sources';

const names = readdirSync(HISTORIES_DIR)
  .filter((n) => n.startsWith('pipeline-') && n.endsWith('.json'))
  .sort();

test('the histories cover a first run, a cached run, a sweep sharing a stage run, and single flight', () => {
  for (const n of ['pipeline-first-run.json', 'pipeline-cached-run.json', 'pipeline-sweep-shared.json', 'pipeline-single-flight.json'])
    assert.ok(names.includes(n), n);
});

for (const name of names) {
  test(`replaying ${name} with the current workflow code is deterministic`, async () => {
    installRuntime();
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(await readFile(path.join(HISTORIES_DIR, name), 'utf8')) as Record<string, unknown>);
    assert.ok((history.events?.length ?? 0) > 5, 'the fixture holds a real history');
    // Throws DeterminismViolationError when today's code would issue different commands.
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });
}

test('workflows/ is what the histories were recorded against', async () => {
  const recorded = JSON.parse(await readFile(RECORDED_AGAINST, 'utf8')) as RecordedAgainst;
  const now = workflowSources();
  if (now.digest === recorded.workflowsSha256) return;
  const changed = [...new Set([...Object.keys(now.files), ...Object.keys(recorded.files)])].filter((f) => now.files[f] !== recorded.files[f]).sort();
  assert.fail(
    `changed workflows/ since the replay histories were recorded (${changed.join(', ')}). ` +
      'Runs in flight during a deploy replay their history against the new code: guard a change they can see with ' +
      "patched('<change-id>') (keeping the old path for old histories), check that the saved histories still replay " +
      `(the tests above), then re-record the histories with \`${RECORD_COMMAND}\` and commit them with the change.`,
  );
});
