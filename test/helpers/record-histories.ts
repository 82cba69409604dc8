/**
 * Re-records the replay fixtures in test/fixtures/histories from runs of today's workflow code on a
 * real Temporal server (a private dev server unless TEMPORAL_ADDRESS is set), and writes
 * recorded-against.json with the sha256 of the workflows/ sources they were recorded against.
 *
 *   npx tsx test/helpers/record-histories.ts
 *
 * Run it only after checking that the OLD histories still replay against the new code
 * (`node --import tsx --test test/unit/workflows/replay.test.ts` — failing only on the
 * recorded-against check), or after a deliberate incompatible change; say which in the commit.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { LocalDirStore } from '../../artifacts/local-store';
import type { RunRecord } from '../../core/run-record';
import { buildPlan } from '../../plan/build';
import { loadSpecText } from '../../spec/load';
import { stageCatalog } from '../../stages/catalog';
import { commandRun, pipelineHarness, planOf, type Harness } from './pipeline-harness';
import { tempDir } from './servers';
import { HISTORIES_DIR, RECORDED_AGAINST, RECORD_COMMAND, workflowSources, type RecordedAgainst } from './workflow-sources';

const TREE = path.join(__dirname, '..', 'fixtures', 'commands', 'tree.js');
const STEP = path.join(__dirname, '..', 'fixtures', 'commands', 'step.js');

async function save(harness: Harness, name: string, record: RunRecord, expect: Record<string, string>): Promise<void> {
  assert.equal(record.outcome, 'succeeded', JSON.stringify(record.stages));
  // The fixture must hold the case it is named after, or replaying it proves nothing.
  assert.deepEqual(Object.fromEntries(record.stages.map((s) => [s.id, s.outcome])), expect, name);
  const h = temporal.api.history.v1.History.create(await harness.history());
  const json = temporal.api.history.v1.History.toObject(h, { longs: String, enums: String, bytes: String });
  await writeFile(path.join(HISTORIES_DIR, name), `${JSON.stringify(json)}\n`);
  console.log(`${name}: ${h.events.length} events`);
}

/** A two-arm sweep: `make` is shared by both arms (one stage run), `train` runs once per arm. */
function sweepPlan(tag: string) {
  const spec = `apiVersion: robustok.dev/v1
name: histories-sweep
stages:
  make:
    kind: command
    config: {argv: [node, ${JSON.stringify(TREE)}, '\${outputs.out}', 'made-${tag}'], outputs: {out: tree}}
  train:
    kind: command
    inputs: {x: make.out}
    config:
      argv: [node, ${JSON.stringify(TREE)}, '\${outputs.out}', '\${params.lr}', '\${inputs.x}/a.txt']
      params: {lr: 1}
      outputs: {out: tree}
sweep:
  grid:
    stages.train.config.params.lr: [1, 2]
`;
  const loaded = loadSpecText(spec, 'histories-sweep.yaml', stageCatalog);
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.error));
  const plan = buildPlan(loaded.value.spec, stageCatalog, loaded.value.sourceMap);
  if (!plan.ok) throw new Error(JSON.stringify(plan.error));
  assert.deepEqual(
    plan.value.runs.map((r) => [r.stageId, r.arms]),
    [
      ['make', [0, 1]],
      ['train', [0]],
      ['train', [1]],
    ],
    'make is one stage run shared by both arms',
  );
  return plan.value;
}

async function main(): Promise<void> {
  const tag = new Date().toISOString();
  const harness = await pipelineHarness(new LocalDirStore(await tempDir('histories')));
  try {
    const threeStages = planOf([
      commandRun('a', { config: { argv: ['node', TREE, '${outputs.out}', `a-${tag}`], outputs: { out: 'tree' } }, outputs: ['out'] }),
      commandRun('b', {
        config: { argv: ['node', TREE, '${outputs.out}', 'b', '${inputs.x}/a.txt'], outputs: { out: 'tree' } },
        inputs: { x: { run: 'a', output: 'out' } },
        outputs: ['out'],
      }),
      commandRun('c', {
        config: { argv: ['node', TREE, '${outputs.out}', 'c', '${inputs.x}/a.txt'], outputs: { out: 'tree' } },
        inputs: { x: { run: 'a', output: 'out' } },
        outputs: ['out'],
      }),
    ]);
    await save(harness, 'pipeline-first-run.json', await harness.run(threeStages), { a: 'ran', b: 'ran', c: 'ran' });
    await save(harness, 'pipeline-cached-run.json', await harness.run(threeStages), { a: 'cached', b: 'cached', c: 'cached' });

    const sweep = sweepPlan(tag);
    const ids = sweep.runs.map((r) => r.id);
    await save(harness, 'pipeline-sweep-shared.json', await harness.run(sweep), Object.fromEntries(ids.map((id) => [id, 'ran'])));

    // Two stage runs with identical work in one run: the second joins the first in flight (single flight).
    const counter = path.join(await tempDir('histories-counter'), 'count.txt');
    const same = { argv: ['node', STEP, counter, 'twin', tag, '${outputs.out}'], outputs: { out: 'o.txt' }, env: { STEP_SLEEP_MS: '1500' } };
    const twins = await harness.run(planOf([commandRun('x', { config: same, outputs: ['out'] }), commandRun('y', { config: same, outputs: ['out'] })]));
    await save(harness, 'pipeline-single-flight.json', twins, { x: 'ran', y: 'cached' });
  } finally {
    await harness.close();
  }
  const now = workflowSources();
  const note: RecordedAgainst = { workflowsSha256: now.digest, files: now.files, recordedAt: new Date().toISOString(), command: RECORD_COMMAND };
  await writeFile(RECORDED_AGAINST, `${JSON.stringify(note, null, 2)}\n`);
  console.log(`recorded against workflows/ sha256 ${now.digest}`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
