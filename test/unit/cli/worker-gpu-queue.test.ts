/**
 * `robustok worker --queue gpu` on a host without a GPU backend refuses to start (a gpu stage on the
 * CPU would run for days instead of failing); --allow-cpu lets it through. Both checked before any
 * server is needed: the refusal comes first, and with --allow-cpu the next failure is the (absent)
 * Temporal server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { workerCommand } from '../../../cli/commands/worker';
import { isPipelineError } from '../../../core/errors';

// The reference cpu backend: no GPU, and fast to start.
process.env.ROBUSTOK_BACKEND = 'cpu';
const nowhere = { address: '127.0.0.1:1', namespace: 'default' };

test('--queue gpu without a GPU backend is refused, naming the fix and --allow-cpu', async () => {
  await assert.rejects(workerCommand({ queue: ['gpu'], ...nowhere }), (e) => {
    assert.ok(isPipelineError(e, 'BACKEND_UNAVAILABLE'), String(e));
    assert.match(e.message, /native-tensorflow\.sh --gpu/);
    assert.match(e.message, /--allow-cpu/);
    return true;
  });
});

test('--allow-cpu (and queues other than gpu) pass the check', async () => {
  for (const o of [{ queue: ['gpu'], allowCpu: true }, { queue: ['cpu'] }]) {
    await assert.rejects(workerCommand({ ...o, ...nowhere }), (e) => isPipelineError(e, 'TEMPORAL_UNREACHABLE'));
  }
});
