/**
 * The dataset.synthetic stage through its stage function with a test context, its descriptor's
 * config schema, and `robustok validate` on a spec that uses it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateCommand } from '../../../cli/commands/validate';
import { datasetSyntheticConfigSchema } from '../../../stages/dataset-synthetic-config';
import { datasetSyntheticStage } from '../../../stages/dataset-synthetic';
import { stageCatalog } from '../../../stages/catalog';
import { stageImpl } from '../../../stages/registry';
import { testStageContext } from '../../helpers/stage-context';

test('the stage writes dataset/ (train, val, dataset.json), reports progress and counts, seeds from the stage seed', async () => {
  const config = datasetSyntheticConfigSchema.parse({ imageSize: 16, numClasses: 2, trainPerClass: 3, valPerClass: 1 });
  assert.deepEqual(config, { imageSize: 16, numClasses: 2, trainPerClass: 3, valPerClass: 1 });
  const ctx = await testStageContext({ config, seed: 42 });
  const result = await datasetSyntheticStage.run(ctx);
  assert.deepEqual(result.outputs, { dataset: path.join(ctx.workdir, 'dataset') });
  assert.deepEqual(result.metrics, { train_images: 6, val_images: 2, classes: 2 });
  const meta = JSON.parse(await readFile(path.join(ctx.workdir, 'dataset', 'dataset.json'), 'utf8')) as { seed: number; classes: { name: string }[] };
  assert.equal(meta.seed, 42);
  assert.deepEqual(
    meta.classes.map((c) => c.name),
    ['00-disc-solid', '01-square-solid'],
  );
  assert.deepEqual(ctx.progressLog.at(-1), { step: 8, total: 8, message: 'images' });
  // An explicit seed wins over the stage seed, and the same seed reproduces the same bytes.
  const again = await testStageContext({ config: { ...config, seed: 42 }, seed: 5 });
  await datasetSyntheticStage.run(again);
  const f = (c: { workdir: string }) => readFile(path.join(c.workdir, 'dataset', 'train', '01-square-solid', '002.png'));
  assert.deepEqual(await f(again), await f(ctx));
});

test('config defaults and limits', () => {
  assert.deepEqual(datasetSyntheticConfigSchema.parse({}), { imageSize: 32, numClasses: 10, trainPerClass: 100, valPerClass: 20 });
  assert.equal(datasetSyntheticConfigSchema.safeParse({ imageSize: 4 }).success, false);
  assert.equal(datasetSyntheticConfigSchema.safeParse({ trainPerClas: 4 }).success, false);
});

test('registered in the catalog and the registry', async () => {
  assert.equal(stageCatalog.get('dataset.synthetic')?.version, '1');
  assert.deepEqual(stageCatalog.get('dataset.synthetic')?.outputs({}), ['dataset']);
  assert.equal((await stageImpl('dataset.synthetic'))?.descriptor.kind, 'dataset.synthetic');
});

test('robustok validate accepts a spec with a dataset.synthetic stage feeding another stage, and rejects a misspelt key', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'synth-spec-'));
  const spec = path.join(dir, 'spec.yaml');
  const body = `apiVersion: robustok.dev/v1
name: synthetic-smoke
stages:
  data:
    kind: dataset.synthetic
    config: {imageSize: 32, numClasses: 10, trainPerClass: 100, valPerClass: 20, seed: 0}
  count:
    kind: command
    inputs: {dataset: data.dataset}
    config:
      argv: [ls, '\${inputs.dataset}']
`;
  await writeFile(spec, body);
  const logged: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => logged.push(a.join(' '));
  console.error = (...a: unknown[]) => logged.push(a.join(' '));
  try {
    assert.equal(await validateCommand(spec, { set: [], json: true }), 0, logged.join('\n'));
    assert.equal((JSON.parse(logged.join('\n')) as { stages: number }).stages, 2);
    logged.length = 0;
    await writeFile(spec, body.replace('trainPerClass', 'trainPerClas'));
    assert.equal(await validateCommand(spec, { set: [], json: false }), 2);
    assert.match(logged.join('\n'), /spec\.yaml:6:\d+: .*trainPerClas/);
  } finally {
    console.log = log;
    console.error = error;
  }
});
