/**
 * `checkpointEvery` on a command stage reaches the program as RT_CHECKPOINT_EVERY (before, the
 * option was accepted and the program never learnt it; 0 = the spec asked for no checkpoints).
 *   node --import tsx --test test/unit/stages/command-checkpoint-every.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { commandStage } from '../../../stages/command';
import { commandDescriptor } from '../../../stages/command-config';
import { testStageContext } from '../../helpers/stage-context';

const PRINT = "require('fs').writeFileSync(process.env.RT_OUTPUT_OUT, JSON.stringify(process.env.RT_CHECKPOINT_EVERY ?? null))";

for (const every of [250, 0]) {
  test(`checkpointEvery: ${every} is exported as RT_CHECKPOINT_EVERY=${every}`, async () => {
    const config = commandDescriptor.configSchema.parse({ argv: ['node', '-e', PRINT], outputs: { out: 'every.json' } });
    const ctx = await testStageContext({ config, checkpointEvery: every });
    const result = await commandStage.run(ctx);
    const out = result.outputs.out;
    assert.ok(out !== undefined);
    assert.equal(JSON.parse(await readFile(out, 'utf8')), String(every));
  });
}
