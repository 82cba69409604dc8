/**
 * The σ × guidance sweep (pipelines/sweep-sigma-guidance.yaml) run for real on the test servers, its
 * smoke base shrunk with --set so the whole chain finishes in about a minute: 2 σ × 2 guidance tuples
 * = 4 arms, and the run record's outcomes show each stage run executed exactly as often as the sweep
 * needs — data, main-train, pretokenize and generator train once; pairs and post-train once per σ;
 * sample and FID once per arm — that σ and guidance each change what the arms sample (four different
 * sample sets, four FIDs), and that a second run executes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROOT, cliEnv, parseJson, runCli } from '../helpers/cli';
import path from 'node:path';

const SPEC = path.join(ROOT, 'pipelines', 'sweep-sigma-guidance.yaml');

/**
 * The smoke base at toy size: 16-px images of 2 classes, one-block networks, a few steps each.
 *
 * σ can only change the samples if the main-train tokenizer's codes depend on the image and its decoder
 * on the codes: the pairs are real tokens (kept with probability σ) and generator draws, decoded by that
 * tokenizer's EMA weights. The smoke tokenizer shrunk to 8 steps at lr 1e-2 did neither: every image got
 * the same 1-3 codes, and the EMA decoder drew the same pixels for any code (< 0.05 grey levels apart), so
 * both σ gave identical pairs and samples; that a few positions had differed before was luck that
 * float32 rounding changes took away. The tokenizer block below is what made both hold, with four
 * different sample sets and the two σ post-training to held-out pair MSEs 0.001-0.07 apart, for every
 * stage seed 0-4 with the native fused kernels on and off (stages run in-process; the test itself
 * passed on and off, with the native ops on and off and in eager execution):
 * - layer_scale_init null: upstream's LayerScale γ = 1e-5 is for DINOv2's trained gammas; on a random
 *   init it makes both ViTs pass their input tokens through unchanged (images reach the latent tokens,
 *   and codes the pixels, only through γ), so the codes start image-independent to 0.0°.
 * - semanticWeight 3: the InfoNCE term is what asks for a different code per image; reconstruction alone
 *   teaches the decoder the mean image first (1 code for all images even at lr 1e-2), and at 0.1 one
 *   seed in three still collapsed to a single code.
 * - 48 steps (24 epochs of 16 images) at lr 1e-3: with 8 or 16 steps the codes vary, but the two σ's
 *   post-trained decoders came as close as 1e-7 in held-out pair MSE (and seed 4 at 8 steps sampled
 *   3 sets, not 4); 8 steps at lr 1e-2 stay at one or two codes.
 * - ema decay 0.5: pretokenize and pairs use the EMA weights; at the smoke base's 0.99 they would still
 *   be 0.99^48 = 62% the initial ones.
 */
export const TINY_SMOKE = [
  'stages.data.config={imageSize: 16, numClasses: 2, trainPerClass: 8, valPerClass: 2, seed: 0}',
  'stages.tokenizer.config.model={image_size: 16, patch_size: 4, width: 64, depth: 2, num_heads: 4, codebook_size: 8, codebook_embed_dim: 2, num_latent_tokens: 16, drop_path_rate: 0.0, layer_scale_init: null}',
  'stages.tokenizer.config.batchSize=8',
  'stages.tokenizer.config.epochs=24',
  'stages.tokenizer.config.optimizer={lr: 1.0e-3, scaleLrByBatch: false, minLr: 1.0e-4, warmupEpochs: 0}',
  'stages.tokenizer.config.ema={decay: 0.5}',
  'stages.tokenizer.config.losses={perceptualWeight: 0, semanticWeight: 3.0}',
  'stages.tokenizer.config.validation={every: 0, batchSize: 8}',
  'stages.tokenizer.checkpointEvery=0',
  'stages.generator.config.model={hiddenSize: 16, numLayers: 1, numHeads: 2, intermediateSize: 32}',
  'stages.generator.config.batchSize=8',
  // High learning rates so a few steps give a generator peaked enough that the arms' guidance and
  // temperature change some draws.
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

test('2 σ × 2 guidance on a tiny smoke base: shared upstream stages run once, pairs/posttrain per σ, sample and FID per arm, four different sample sets', async () => {
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
  // σ changes the post-trained decoder (trained on each σ's pairs), and σ and guidance each change the
  // samples: four different sample sets (arms 0/1 and 2/3 share σ, arms 0/2 and 1/3 guidance).
  const digest = (r: RunJson['stages'][number]) => Object.values(r.outputs ?? {})[0]?.digest;
  const tok = runs('tokenizer')[0]?.metrics;
  const post = runs('posttrain');
  const pairMse = post.map((r) => r.metrics.pairMseAfter);
  const why = `tokenizer ${JSON.stringify(tok)}; post-trained held-out pair MSE ${pairMse.join(' vs ')} (σ 0.3 vs 0.7)`;
  assert.notEqual(digest(post[0] as RunJson['stages'][number]), digest(post[1] as RunJson['stages'][number]), `both σ post-trained the same decoder: ${why}`);
  // A real difference, not float32 noise: the collapsed base gave equal MSEs, or ones 1e-7 apart when a
  // few pixels differed; this base gave 0.001-0.07 apart over stage seeds 0-4.
  const [mse03, mse07] = pairMse;
  assert.ok(typeof mse03 === 'number' && typeof mse07 === 'number', `post-training reports pairMseAfter: ${why}`);
  assert.ok(Math.abs(mse03 - mse07) > 1e-4, `both σ post-trained to the same held-out pair MSE: ${why}`);
  const sampleDigests = runs('sample').map(digest);
  const distinct = new Set(sampleDigests).size;
  assert.equal(distinct, 4, `four arms, four sample sets: ${sampleDigests.join(', ')}; ${why}`);
  // Executions (outcome ran; a fresh store, so nothing was cached before this run). The store is
  // content-addressed: one FID per distinct sample set, and an FID not run would be a cache hit.
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
  console.log(`σ × guidance sweep (4 arms, 16 stage runs) through the CLI: ${run.ms} ms wall; ${why}`);

  const again = parseJson<RunJson>(await runCli(['run', SPEC, ...TINY_SMOKE, '--worker', '--json'], env));
  assert.ok(
    again.stages.every((s) => s.outcome === 'cached'),
    JSON.stringify(again.stages.map((s) => [s.id, s.outcome])),
  );
});
