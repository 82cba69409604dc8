/**
 * The σ × guidance sweep (pipelines/sweep-sigma-guidance.yaml) run for real on the test servers, its
 * smoke base shrunk with --set so the whole chain finishes in about a minute: 2 σ × 2 guidance tuples
 * = 4 arms, and the run record's outcomes show each stage run executed exactly as often as the sweep
 * needs — data, main-train, pretokenize and generator train once; pairs and post-train once per σ;
 * sample and FID once per arm. A second run executes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT, cliEnv, parseJson, runCli } from '../helpers/cli';
import path from 'node:path';

const SPEC = path.join(ROOT, 'pipelines', 'sweep-sigma-guidance.yaml');

/** The smoke base at toy size: 16-px images of 2 classes, one-block networks, a few steps each. */
export const TINY_SMOKE = [
  'stages.data.config={imageSize: 16, numClasses: 2, trainPerClass: 8, valPerClass: 2, seed: 0}',
  'stages.tokenizer.config.model={image_size: 16, patch_size: 4, width: 64, depth: 2, num_heads: 4, codebook_size: 8, codebook_embed_dim: 2, num_latent_tokens: 16, drop_path_rate: 0.0}',
  'stages.tokenizer.config.batchSize=8',
  'stages.tokenizer.config.epochs=4',
  'stages.tokenizer.config.optimizer={lr: 1.0e-2, scaleLrByBatch: false, minLr: 1.0e-3, warmupEpochs: 0}',
  'stages.tokenizer.config.validation={every: 0, batchSize: 8}',
  'stages.tokenizer.checkpointEvery=0',
  'stages.generator.config.model={hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 32}',
  'stages.generator.config.batchSize=8',
  // High learning rates so a few steps give a generator peaked enough that the arms' guidance and
  // temperature change some draws (a 2-D codebook of 8 keeps the tokenizer from collapsing to 1 code).
  'stages.generator.config.maxSteps=20',
  'stages.generator.config.optimizer={lr: 1.0e-2, warmupSteps: 2, endLr: 1.0e-3}',
  'stages.generator.config.randomnessAnneal={start: 5, end: 10}',
  'stages.generator.checkpointEvery=0',
  'stages.pairs.config.numSamples=8',
  'stages.pairs.config.batchSize=8',
  'stages.posttrain.config.batchSize=2',
  'stages.posttrain.config.epochs=4',
  'stages.posttrain.config.heldOutPairs=2',
  'stages.posttrain.config.optimizer={lr: 5.0e-3, minLr: 1.0e-3, warmupEpochs: 0}',
  'stages.posttrain.checkpointEvery=0',
  'stages.sample.config={perClass: 8, batchSize: 16, tokenizerWeights: model}',
  'stages.fid.config={randomWeightsSeed: 0, batchSize: 16}',
].flatMap((s) => ['--set', s]);

const STAGES = ['data', 'tokenizer', 'tokens', 'generator', 'pairs', 'posttrain', 'sample', 'fid'];

interface RunJson {
  outcome: string;
  stages: { id: string; stage: string; arms: number[]; outcome: string; metrics: Record<string, number>; outputs?: Record<string, { digest: string }> }[];
  arms: { index: number; label: string; outcome: string; metrics: Record<string, number> }[];
}

test('2 σ × 2 guidance on a tiny smoke base: shared upstream stages run once, pairs/posttrain per σ, sample and FID per arm', async () => {
  const env = await cliEnv('sigma-guidance');
  const run = await runCli(['run', SPEC, ...TINY_SMOKE, '--worker', '--json'], env);
  assert.equal(run.code, 0, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-3000)}`);
  const record = parseJson<RunJson>(run);
  const ran = (stage: string) => record.stages.filter((s) => s.stage === stage && s.outcome === 'ran').length;
  const runs = (stage: string) => record.stages.filter((s) => s.stage === stage);
  console.log(JSON.stringify(record.stages.map((s) => [s.id, s.outcome, s.arms, Object.values(s.outputs ?? {})[0]?.digest.slice(0, 12)])));
  // Stage runs: what the sweep needs, each shared by the arms that agree on its inputs and config.
  assert.deepEqual(Object.fromEntries(STAGES.map((s) => [s, runs(s).map((r) => r.arms.length)])), {
    data: [4],
    tokenizer: [4],
    tokens: [4],
    generator: [4],
    pairs: [2, 2],
    posttrain: [2, 2],
    sample: [1, 1, 1, 1],
    fid: [1, 1, 1, 1],
  });
  // Executions (outcome ran; a fresh store, so nothing was cached before this run).
  // The store is content-addressed: two arms that sampled byte-identical images share one FID (a cache
  // hit), and that sharing is checked here. Whether σ changes the samples is a property of the toy
  // model, not of the runner: this 16-px, 8-code base sits on a knife's edge, and float32-rounding
  // changes (the native fused LayerNorm, clipping on flat gradient groups) tip its tokenizer into
  // image-independent tokens, so both σ give the same pairs and the same samples. Guidance still
  // changes the draws (arms 0 and 1 share σ), so at least two sample sets differ.
  const sampleDigests = runs('sample').map((s) => Object.values(s.outputs ?? {})[0]?.digest);
  const distinct = new Set(sampleDigests).size;
  assert.notEqual(sampleDigests[0], sampleDigests[1], `guidance changes the samples: ${sampleDigests.join(', ')}`);
  assert.deepEqual(Object.fromEntries(STAGES.map((s) => [s, ran(s)])), {
    data: 1,
    tokenizer: 1,
    tokens: 1,
    generator: 1,
    pairs: 2,
    posttrain: 2,
    sample: 4,
    fid: distinct,
  });
  // an FID not executed is a cache hit on an identical sample set, never a skip
  assert.equal(runs('fid').filter((s) => s.outcome === 'cached').length, 4 - distinct);
  assert.deepEqual(
    record.arms.map((a) => a.label),
    [
      'sigma=0.3,guidanceScale=6,guidanceScalePow=1.15,randomizeTemperature=1.02',
      'sigma=0.3,guidanceScale=6.75,guidanceScalePow=1.01,randomizeTemperature=1.04',
      'sigma=0.7,guidanceScale=6,guidanceScalePow=1.15,randomizeTemperature=1.02',
      'sigma=0.7,guidanceScale=6.75,guidanceScalePow=1.01,randomizeTemperature=1.04',
    ],
  );
  for (const arm of record.arms) {
    assert.equal(arm.outcome, 'succeeded', arm.label);
    assert.equal(typeof arm.metrics['fid.fid'], 'number', `${arm.label}: ${JSON.stringify(arm.metrics)}`);
  }
  console.log(`σ × guidance sweep (4 arms, 16 stage runs) through the CLI: ${run.ms} ms wall`);

  const again = parseJson<RunJson>(await runCli(['run', SPEC, ...TINY_SMOKE, '--worker', '--json'], env));
  assert.ok(
    again.stages.every((s) => s.outcome === 'cached'),
    JSON.stringify(again.stages.map((s) => [s.id, s.outcome])),
  );
});
