/**
 * The pipeline workflow + generic stage runner on the real Temporal server and both stores:
 * caching, partial reruns, corrupt entries, failure policies. Plans are written by hand here so
 * the engine is tested apart from spec parsing and planning.
 *
 *   a ──► b ──► d
 *   └───► c ──┘
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalDirStore } from '../../artifacts/local-store';
import { MinioStore } from '../../artifacts/minio-store';
import { blobKey } from '../../artifacts/cas';
import type { ArtifactStore } from '../../artifacts/store';
import type { RunRecord } from '../../core/run-record';
import type { Plan, StageRun } from '../../plan/types';
import { commandRun, pipelineHarness, planOf, withLocalHarness, type Harness } from '../helpers/pipeline-harness';
import { tempDir, testMinio, uniqueBucket } from '../helpers/servers';

const STEP = path.resolve(__dirname, '..', 'fixtures', 'commands', 'step.js');

function diamond(counter: string, texts: { a: string; b: string; c: string; d: string }, env: Record<string, Record<string, string>> = {}): Plan {
  const step = (label: string, text: string, ins: string[]) => ({
    argv: ['node', STEP, counter, label, text, '${outputs.out}', ...ins.map((i) => `\${inputs.${i}}`)],
    outputs: { out: `${label}.txt` },
    env: env[label] ?? {},
  });
  return planOf([
    commandRun('a', { config: step('a', texts.a, []), outputs: ['out'] }),
    commandRun('b', { config: step('b', texts.b, ['x']), inputs: { x: { run: 'a', output: 'out' } }, outputs: ['out'] }),
    commandRun('c', { config: step('c', texts.c, ['x']), inputs: { x: { run: 'a', output: 'out' } }, outputs: ['out'] }),
    commandRun('d', { config: step('d', texts.d, ['l', 'r']), inputs: { l: { run: 'b', output: 'out' }, r: { run: 'c', output: 'out' } }, outputs: ['out'] }),
  ]);
}

const outcomes = (r: RunRecord) => Object.fromEntries(r.stages.map((s) => [s.id, s.outcome]));
const executions = async (counter: string) => (await readFile(counter, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);

for (const kind of ['MinIO', 'local dir'] as const) {
  let store: ArtifactStore;
  let harness: Harness;
  before(async () => {
    store =
      kind === 'MinIO'
        ? new MinioStore({ ...(await testMinio()), bucket: uniqueBucket('engine'), prefix: 'p' })
        : new LocalDirStore(await tempDir('engine-store'));
    harness = await pipelineHarness(store);
  });
  after(() => harness.close());

  test(`${kind}: a second run of an unchanged pipeline executes nothing; a config change reruns exactly that stage and its descendants`, async () => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    const texts = { a: 'A', b: 'B', c: 'C', d: 'D' };
    const first = await harness.run(diamond(counter, texts));
    assert.deepEqual(outcomes(first), { a: 'ran', b: 'ran', c: 'ran', d: 'ran' });
    assert.equal(first.outcome, 'succeeded');
    const d = first.stages.find((s) => s.id === 'd');
    assert.ok(d?.outputs.out);
    assert.equal(d.outputs.out.bytes, Buffer.byteLength('A\nB\nA\nC\nD\n'));

    const second = await harness.run(diamond(counter, texts));
    assert.deepEqual(outcomes(second), { a: 'cached', b: 'cached', c: 'cached', d: 'cached' });
    assert.deepEqual((await executions(counter)).sort(), ['a', 'b', 'c', 'd']);
    assert.deepEqual(
      second.stages.map((s) => s.key),
      first.stages.map((s) => s.key),
    );

    const third = await harness.run(diamond(counter, { ...texts, b: 'B2' }));
    assert.deepEqual(outcomes(third), { a: 'cached', b: 'ran', c: 'cached', d: 'ran' });
    assert.deepEqual((await executions(counter)).sort(), ['a', 'b', 'b', 'c', 'd', 'd']);
  });

  test(`${kind}: a corrupted stored output is detected by digest, warned about and recomputed`, async () => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    const texts = { a: 'corrupt-me', b: 'B', c: 'C', d: 'D' };
    const first = await harness.run(diamond(counter, texts));
    const a = first.stages.find((s) => s.id === 'a');
    assert.ok(a?.outputs.out);
    // Flip the stored bytes of a's output behind the store's back.
    await store.put(blobKey(a.outputs.out.digest), 'garbage of another length');
    const second = await harness.run(diamond(counter, texts));
    const a2 = second.stages.find((s) => s.id === 'a');
    assert.equal(a2?.outcome, 'ran');
    assert.match(a2?.warnings?.[0] ?? '', /unusable .*output 'out'.*recomputing/);
    // a rewrote identical bytes, so its consumers' keys are unchanged: they stay cached.
    assert.deepEqual(outcomes(second), { a: 'ran', b: 'cached', c: 'cached', d: 'cached' });
    assert.equal((await store.getBytes(blobKey(a.outputs.out.digest))).toString(), 'corrupt-me\n');
  });

  test(`${kind}: failurePolicy continue runs the independent branch and skips only the dependents of a failure`, async () => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    const plan = diamond(counter, { a: 'A', b: 'fail', c: 'C', d: 'D' }, { b: { STEP_FAIL: '1' } });
    const record = await harness.run({ ...plan, failurePolicy: 'continue' });
    assert.deepEqual(outcomes(record), { a: 'ran', b: 'failed', c: 'ran', d: 'skipped' });
    const b = record.stages.find((s) => s.id === 'b');
    assert.equal(b?.error?.code, 'COMMAND_FAILED');
    assert.match(b?.error?.message ?? '', /exited with code 3; stderr ends with:\nstep b failed on purpose/);
    assert.equal(b?.attempts, 2, 'COMMAND_FAILED is retryable: both attempts were used');
    assert.equal(record.outcome, 'failed');
  });
}

test('a missing output declaration fails the stage without committing a manifest', () =>
  withLocalHarness('engine-noout', async (harness, store) => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    const lying = commandRun('liar', {
      config: { argv: ['node', STEP, counter, 'liar', 'x', path.join(await tempDir('elsewhere'), 'o.txt')], outputs: { out: 'never-written.txt' } },
      outputs: ['out'],
      maximumAttempts: 1,
    });
    const record = await harness.run(planOf([lying]));
    assert.equal(record.stages[0]?.outcome, 'failed');
    assert.match(record.stages[0]?.error?.message ?? '', /did not write its declared output 'out'/);
    assert.deepEqual(
      (await store.list('runs/')).filter((k) => k.endsWith('manifest.json')),
      [],
    );
  }));

test('a long run continues as new when its history grows, carrying every finished result', () =>
  withLocalHarness('engine-can', async (harness) => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    // A chain of 8 stages: each needs the previous one, so the workflow must carry results across runs.
    const runs = Array.from({ length: 8 }, (_, i) =>
      commandRun(`s${i}`, {
        config: { argv: ['node', STEP, counter, `s${i}`, `t${i}`, '${outputs.out}', ...(i > 0 ? ['${inputs.prev}'] : [])], outputs: { out: 'o.txt' } },
        inputs: i > 0 ? { prev: { run: `s${i - 1}`, output: 'out' } } : {},
        outputs: ['out'],
      }),
    );
    // A tiny history budget forces a continue-as-new after nearly every stage.
    const record = await harness.run(planOf(runs), { historySoftLimit: 20 });
    assert.equal(record.outcome, 'succeeded');
    assert.equal(await harness.firstExecutionStatus(), 'CONTINUED_AS_NEW');
    assert.deepEqual(
      record.stages.map((s) => `${s.id}:${s.outcome}`),
      runs.map((r) => `${r.id}:ran`),
    );
    const last = record.stages.find((s) => s.id === 's7');
    assert.equal(last?.outputs.out?.bytes, Array.from({ length: 8 }, (_, i) => `t${i}\n`).join('').length);
    assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 8, 'no stage ran twice across the continue-as-new boundaries');
  }));

test('failFast stops stages still running when another fails', () =>
  withLocalHarness('engine-failfast', async (harness) => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    const step = (label: string, env: Record<string, string>) => ({
      argv: ['node', STEP, counter, label, label, '${outputs.out}'],
      outputs: { out: 'o.txt' },
      env,
    });
    const plan = planOf([
      commandRun('slow', { config: step('slow', { STEP_SLEEP_MS: '60000' }), outputs: ['out'], maximumAttempts: 1, heartbeat: '10s' }),
      commandRun('broken', { config: step('broken', { STEP_SLEEP_MS: '1500', STEP_FAIL: '1' }), outputs: ['out'], maximumAttempts: 1 }),
    ]);
    const started = Date.now();
    const record = await harness.run(plan);
    const elapsed = Date.now() - started;
    assert.deepEqual(Object.fromEntries(record.stages.map((s) => [s.id, s.outcome])), { slow: 'skipped', broken: 'failed' });
    assert.match(record.stages.find((s) => s.id === 'slow')?.error?.message ?? '', /stopped: another stage failed/);
    // The 60 s stage did not run to its end (generous bound: the point is it was stopped, not timing).
    assert.ok(elapsed < 45_000, `run took ${elapsed} ms`);
  }));

test('eval.fid as a stage: features from upstream stages in, FID in the manifest metrics', () =>
  withLocalHarness('engine-fid', async (harness) => {
    const FEATURES = path.resolve(__dirname, '..', 'fixtures', 'commands', 'features.js');
    const feats = (seed: number, shift: number) => ({
      argv: ['node', FEATURES, '${outputs.out}', '64', '8', String(seed), String(shift)],
      outputs: { out: 'f.npy' },
    });
    const fid = (samples: string) =>
      ({
        ...commandRun(`fid-${samples}`, {
          config: { batchSize: 50 },
          inputs: { samples: { run: samples, output: 'out' }, reference: { run: 'ref', output: 'out' } },
          outputs: ['metrics'],
        }),
        kind: 'eval.fid',
      }) satisfies StageRun;
    const plan = planOf([
      commandRun('ref', { config: feats(1, 0), outputs: ['out'] }),
      commandRun('same', { config: feats(1, 0), outputs: ['out'] }),
      commandRun('shifted', { config: feats(2, 0.5), outputs: ['out'] }),
      fid('same'),
      fid('shifted'),
    ]);
    const record = await harness.run(plan);
    assert.equal(record.outcome, 'succeeded', JSON.stringify(record.stages.map((s) => s.error)));
    const metric = (id: string) => record.stages.find((s) => s.id === id)?.metrics;
    // Identical feature sets: FID 0; a mean shift of 0.5 in 8 dimensions: FID ≈ 8 × 0.25 = 2 (+ sampling noise).
    assert.ok(Math.abs(Number(metric('fid-same')?.fid)) < 1e-6, `fid-same ${JSON.stringify(metric('fid-same'))}`);
    const shifted = Number(metric('fid-shifted')?.fid);
    assert.ok(shifted > 1.5 && shifted < 3, `fid-shifted ${shifted}`);
    assert.equal(metric('fid-shifted')?.n_b, 64);
    // The features were given, so no network ran and none is claimed.
    assert.equal(metric('fid-shifted')?.weightsDigest, null);
  }));

test('two stage runs with identical work in one run execute once (single flight)', () =>
  withLocalHarness('engine-twins', async (harness) => {
    const counter = path.join(await tempDir('counter'), 'count.txt');
    const same = { argv: ['node', STEP, counter, 'twin', 'same', '${outputs.out}'], outputs: { out: 'o.txt' }, env: { STEP_SLEEP_MS: '1000' } };
    const record = await harness.run(planOf([commandRun('x', { config: same, outputs: ['out'] }), commandRun('y', { config: same, outputs: ['out'] })]));
    assert.equal(record.outcome, 'succeeded');
    assert.deepEqual(record.stages.map((s) => s.outcome).sort(), ['cached', 'ran']);
    assert.equal(record.stages[0]?.outputs.out?.digest, record.stages[1]?.outputs.out?.digest);
    assert.equal((await readFile(counter, 'utf8')).trim().split('\n').length, 1, 'the work ran once');
  }));
