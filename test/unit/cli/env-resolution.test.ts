/**
 * eval.fid's weightsFromEnv: the planning CLI pins the file the variable names (path + sha256) into the
 * config, so the FID stage's cache key follows the weights; unset, the config (random network) stays;
 * a variable naming no file is a spec issue. The stage refuses a file whose bytes changed since.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveEnvironment } from '../../../cli/env-resolution';
import { loadPlan } from '../../../cli/load-plan';
import { isPipelineError } from '../../../core/errors';
import type { Spec } from '../../../spec';
import { evalFidConfigSchema } from '../../../stages/eval-fid-config';
import { evalFidStage } from '../../../stages/eval-fid-stage';
import { testStageContext } from '../../helpers/stage-context';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function specWith(config: Record<string, unknown>): Spec {
  return {
    apiVersion: 'robustok.dev/v1',
    name: 't',
    stages: [
      {
        id: 'fid',
        kind: 'eval.fid',
        config,
        inputs: {},
        queue: 'cpu',
        resources: {},
        retry: {},
        timeouts: { startToClose: '1h', heartbeat: '1m' },
        checkpointEvery: 0,
        deterministic: true,
        seed: 0,
      },
    ],
    sweep: undefined,
    failurePolicy: 'failFast',
    concurrency: {},
  } as unknown as Spec;
}

test('weightsFromEnv: pinned when set, untouched when unset, an issue when it names no file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'env-res-'));
  const file = path.join(dir, 'inception.safetensors');
  await writeFile(file, 'not really weights');
  const digest = createHash('sha256').update('not really weights').digest('hex');
  const base = { weightsFromEnv: 'FID_W', randomWeightsSeed: 0 };
  const set = await resolveEnvironment(specWith(base), { FID_W: file });
  assert.deepEqual(set.issues, []);
  assert.deepEqual(set.spec.stages[0]?.config, { ...base, weightsFile: file, weightsSha256: digest });
  assert.ok(evalFidConfigSchema.safeParse(set.spec.stages[0]?.config).success);
  const unset = await resolveEnvironment(specWith(base), {});
  assert.deepEqual(unset.spec.stages[0]?.config, base);
  const missing = await resolveEnvironment(specWith(base), { FID_W: path.join(dir, 'nope') });
  assert.equal(missing.issues[0]?.code, 'INPUT_MISSING');
  assert.equal(missing.issues[0]?.path, 'stages.fid.config.weightsFromEnv');
  assert.ok(!evalFidConfigSchema.safeParse({ weightsFile: file }).success, 'a file without its digest is refused');
});

test('the smoke pipeline: setting ROBUSTOK_FID_WEIGHTS changes only the fid stage key', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'env-res-smoke-'));
  const file = path.join(dir, 'w.safetensors');
  await writeFile(file, 'w');
  const spec = path.join(ROOT, 'pipelines', 'smoke.yaml');
  const saved = process.env.ROBUSTOK_FID_WEIGHTS;
  try {
    delete process.env.ROBUSTOK_FID_WEIGHTS;
    const a = await loadPlan(spec, []);
    process.env.ROBUSTOK_FID_WEIGHTS = file;
    const b = await loadPlan(spec, []);
    assert.ok(a.ok && b.ok);
    const keys = (p: typeof a) => (p.ok ? Object.fromEntries(p.plan.runs.map((r) => [r.id, r.structuralKey])) : {});
    const [ka, kb] = [keys(a), keys(b)];
    for (const id of Object.keys(ka)) assert.equal(ka[id] === kb[id], id !== 'fid', `stage ${id}`);
  } finally {
    if (saved === undefined) delete process.env.ROBUSTOK_FID_WEIGHTS;
    else process.env.ROBUSTOK_FID_WEIGHTS = saved;
  }
});

test('eval.fid refuses a weightsFile whose bytes no longer match the planned digest', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'env-res-stage-'));
  const file = path.join(dir, 'w.safetensors');
  await writeFile(file, 'changed');
  const config = evalFidConfigSchema.parse({ weightsFile: file, weightsSha256: 'a'.repeat(64) });
  const ctx = await testStageContext({ config, inputs: { samples: dir, reference: dir }, seed: 0 });
  await assert.rejects(evalFidStage.run(ctx), (e) => isPipelineError(e, 'DIGEST_MISMATCH') && /plan the run again/.test(e.message));
});
