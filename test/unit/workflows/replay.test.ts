/**
 * Replays saved histories of the pipeline workflow against today's workflow code. A change that
 * makes the workflow non-deterministic (it would break runs in flight during a deploy) fails here.
 * Regenerate the fixtures only for a deliberate, versioned change (see test/fixtures/histories/README).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../../cli/worker';
import { installRuntime } from '../../../cli/runtime';

const DIR = path.resolve(__dirname, '..', '..', 'fixtures', 'histories');

for (const name of ['pipeline-first-run.json', 'pipeline-cached-run.json']) {
  test(`replaying ${name} with the current workflow code is deterministic`, async () => {
    installRuntime();
    const history = temporal.api.history.v1.History.fromObject(JSON.parse(await readFile(path.join(DIR, name), 'utf8')) as Record<string, unknown>);
    assert.ok((history.events?.length ?? 0) > 5, 'the fixture holds a real history');
    // Throws DeterminismViolationError when today's code would issue different commands.
    await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history);
  });
}
