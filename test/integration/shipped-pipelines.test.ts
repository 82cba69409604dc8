/**
 * Every pipeline we ship validates and plans through the `robustok` bin users run (bin/robustok.js,
 * not tsx directly): a kind renamed or a config key dropped must not leave a shipped YAML broken.
 * Then what each one promises: the paper values of robustok.yaml, the documented RAR-L --set lines of
 * robustok.yaml / reproduce-rar.yaml / upstream-torch.yaml, the σ × guidance arms and their shared runs,
 * and that sweep-sigma-guidance.yaml stays in step with smoke.yaml.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildPlan, type Plan } from '../../plan';
import { durationMs } from '../../spec/duration';
import { loadSpecText } from '../../spec/load';
import type { Spec } from '../../spec/types';
import { stageCatalog } from '../../stages/catalog';
import { ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

function robustok(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'robustok.js'), ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const specs = readdirSync(path.join(ROOT, 'pipelines'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('pipelines/ holds the smoke pipeline', () => {
  assert.ok(specs.includes('smoke.yaml'), specs.join(', '));
});

for (const file of specs) {
  test(`pipelines/${file}: validate and plan through the robustok bin`, async () => {
    const home = await tempDir('shipped');
    const env = { ...process.env, ROBUSTOK_HOME: home, ROBUSTOK_STORE: path.join(home, 'store') };
    const spec = path.join('pipelines', file);
    const v = await robustok(['validate', spec], env);
    assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
    const p = await robustok(['plan', spec, '--json'], env);
    assert.equal(p.code, 0, p.stderr);
    const plan = JSON.parse(p.stdout) as { runs: { id: string; status: string }[] };
    assert.ok(plan.runs.length > 0);
    assert.ok(
      plan.runs.every((r) => r.status === 'will run'),
      JSON.stringify(plan.runs.map((r) => r.status)),
    );
  });
}

// ── What each shipped pipeline promises beyond validating ──────────────────────────────────────────

function loadShipped(file: string, sets: readonly string[] = []): Spec {
  const r = loadSpecText(readFileSync(path.join(ROOT, 'pipelines', file), 'utf8'), file, stageCatalog, sets);
  if (!r.ok) assert.fail(r.error.map((i) => `${i.file}:${i.line}:${i.column}: ${i.message}`).join('\n'));
  return r.value.spec;
}

function planShipped(file: string, sets: readonly string[] = []): Plan {
  const p = buildPlan(loadShipped(file, sets), stageCatalog);
  if (!p.ok) assert.fail(p.error.map((i) => i.message).join('\n'));
  return p.value;
}

const cfg = (spec: Spec, id: string) => spec.stages.find((s) => s.id === id)?.config as Record<string, unknown>;
const setArgs = (sets: readonly string[]) => sets.flatMap((s) => ['--set', s]);

const RAR_L_SAMPLING = { guidanceScale: 6.75, guidanceScalePow: 1.01, randomizeTemperature: 1.04 };
const RAR_B_SAMPLING = { guidanceScale: 6.0, guidanceScalePow: 1.15, randomizeTemperature: 1.02 };
const sampling = (c: Record<string, unknown>) => ({
  guidanceScale: c.guidanceScale,
  guidanceScalePow: c.guidanceScalePow,
  randomizeTemperature: c.randomizeTemperature,
});

/** The seven --set lines robustok.yaml documents for RAR-L (its header). */
const ROBUSTOK_RAR_L = [
  'stages.generator.config.model.preset=rar-l',
  ...['pairs', 'sample'].flatMap((s) => [
    `stages.${s}.config.guidanceScale=6.75`,
    `stages.${s}.config.guidanceScalePow=1.01`,
    `stages.${s}.config.randomizeTemperature=1.04`,
  ]),
];

test('robustok.yaml is the paper configuration: §1.2–§1.4 and §6 values, gpu queue, long timeouts; RAR-L by its documented --set lines', async () => {
  const spec = loadShipped('robustok.yaml');
  const tok = cfg(spec, 'tokenizer');
  assert.deepEqual(tok.model, {
    image_size: 256,
    patch_size: 16,
    width: 768,
    depth: 12,
    num_heads: 12,
    mlp_ratio: 4,
    drop_path_rate: 0.1,
    layer_scale_init: 1e-5,
    codebook_size: 4096,
    codebook_embed_dim: 64,
    codebook_l2_norm: true,
    commit_loss_beta: 0.25,
    num_latent_tokens: 256,
  });
  assert.deepEqual([tok.batchSize, tok.epochs], [1024, 200]);
  assert.deepEqual(tok.perturbation, { alpha: 1, beta: 0.1, delta: 100, annealStart: 40, annealEnd: 120, endRatio: 0.5 });
  assert.equal((tok.discriminator as { startEpoch: number }).startEpoch, 56);
  const gen = cfg(spec, 'generator');
  assert.deepEqual([gen.batchSize, gen.maxSteps, gen.randomnessAnneal], [2048, 250000, { start: 125000, end: 187500 }]);
  assert.deepEqual(gen.optimizer, { lr: 4e-4, beta1: 0.9, beta2: 0.96, weightDecay: 0.03, warmupSteps: 62500, endLr: 1e-5 });
  const post = cfg(spec, 'posttrain');
  assert.deepEqual([post.epochs, (post.optimizer as { lr: number }).lr, (post.discriminator as { startEpoch: number }).startEpoch], [100, 5e-5, 0]);
  assert.equal(cfg(spec, 'pairs').sigma, 0.7);
  assert.deepEqual(sampling(cfg(spec, 'sample')), RAR_B_SAMPLING);
  assert.equal(cfg(spec, 'sample').perClass, 50);
  for (const s of spec.stages) {
    assert.equal(s.queue, s.kind === 'files.import' ? 'cpu' : 'gpu', s.id);
    if (['tokenizer.train', 'generator.train', 'tokenizer.posttrain'].includes(s.kind)) {
      assert.ok(s.checkpointEvery > 0, s.id);
      assert.ok((durationMs(s.timeouts.startToClose) ?? 0) >= 14 * 86_400_000, `${s.id}: startToClose ${s.timeouts.startToClose}`);
    }
  }
  const large = loadShipped('robustok.yaml', ROBUSTOK_RAR_L);
  assert.equal((cfg(large, 'generator').model as { preset: string }).preset, 'rar-l');
  assert.deepEqual(sampling(cfg(large, 'pairs')), RAR_L_SAMPLING);
  assert.deepEqual(sampling(cfg(large, 'sample')), RAR_L_SAMPLING);
  assert.equal(planShipped('robustok.yaml', ROBUSTOK_RAR_L).runs.length, 13);
  const home = await tempDir('shipped-l');
  const v = await robustok(['validate', 'pipelines/robustok.yaml', ...setArgs(ROBUSTOK_RAR_L)], {
    ...process.env,
    ROBUSTOK_HOME: home,
    ROBUSTOK_STORE: path.join(home, 'store'),
  });
  assert.equal(v.code, 0, `${v.stdout}\n${v.stderr}`);
});

test("sweep-sigma-guidance.yaml: 4 arms σ × (g, p, T); its stages are smoke.yaml's, so a smoke run's upstream runs are cache hits", () => {
  const plan = planShipped('sweep-sigma-guidance.yaml');
  assert.equal(plan.arms.length, 4);
  const byStage = (id: string) => plan.runs.filter((r) => r.stageId === id);
  assert.deepEqual(Object.fromEntries(['data', 'tokenizer', 'tokens', 'generator', 'pairs', 'posttrain', 'sample', 'fid'].map((s) => [s, byStage(s).length])), {
    data: 1,
    tokenizer: 1,
    tokens: 1,
    generator: 1,
    pairs: 2,
    posttrain: 2,
    sample: 4,
    fid: 4,
  });
  const smoke = planShipped('smoke.yaml');
  for (const id of ['data', 'tokenizer', 'tokens', 'generator']) {
    assert.equal(
      byStage(id)[0]?.structuralKey,
      smoke.runs.find((r) => r.stageId === id)?.structuralKey,
      `${id}: sweep-sigma-guidance.yaml no longer matches smoke.yaml; copy smoke.yaml's stages into it`,
    );
  }
});

test('reproduce-rar.yaml: released weights → 8 sampling shards of 50k (merged) → FID vs the ADM batch; RAR-L --set on sample-0 reaches every shard', () => {
  const plan = planShipped('reproduce-rar.yaml');
  const shards = plan.runs.filter((r) => r.kind === 'generator.sample');
  assert.equal(shards.length, 8);
  const configs = shards.map((r) => r.config as { shard: { index: number; count: number }; perClass: number } & Record<string, unknown>);
  assert.deepEqual(
    configs.map((c) => c.shard),
    [0, 1, 2, 3, 4, 5, 6, 7].map((index) => ({ index, count: 8 })),
  );
  assert.ok(configs.every((c) => c.perClass === 50 && c.tokenizerWeights === 'ema'));
  assert.ok(configs.every((c) => JSON.stringify(sampling(c)) === JSON.stringify(RAR_B_SAMPLING)));
  assert.ok(
    shards.every((r) => r.queue === 'gpu' && r.seed === shards[0]?.seed),
    'one seed for every shard: the merge equals one unsharded stage',
  );
  const merge = plan.runs.find((r) => r.kind === 'generator.sample-merge');
  assert.deepEqual(
    Object.values(merge?.inputs ?? {})
      .map((i) => i.run)
      .sort(),
    shards.map((r) => r.id).sort(),
  );
  const fid = plan.runs.find((r) => r.kind === 'eval.fid');
  assert.deepEqual(Object.keys(fid?.inputs ?? {}).sort(), ['reference', 'samples', 'weights']);
  assert.equal((fid?.config as { precisionRecall: boolean }).precisionRecall, true);

  const large = planShipped('reproduce-rar.yaml', [
    'stages.generator.config.weights=s3://models/robustok/rar_l.safetensors',
    'stages.generator.config.model.preset=rar-l',
    'stages.sample-0.config.guidanceScale=6.75',
    'stages.sample-0.config.guidanceScalePow=1.01',
    'stages.sample-0.config.randomizeTemperature=1.04',
  ]);
  const largeShards = large.runs.filter((r) => r.kind === 'generator.sample');
  assert.equal(largeShards.length, 8);
  for (const r of largeShards) assert.deepEqual(sampling(r.config as Record<string, unknown>), RAR_L_SAMPLING, r.id);
  assert.deepEqual(
    largeShards.map((r) => (r.config as { shard: { index: number } }).shard.index),
    [0, 1, 2, 3, 4, 5, 6, 7],
  );
});

test("upstream-torch.yaml: robustok.yaml's DAG as command stages running the upstream scripts, placeholders only as env vars", () => {
  const spec = loadShipped('upstream-torch.yaml');
  const ours = loadShipped('robustok.yaml');
  const chain = ['tokenizer', 'tokens', 'generator', 'pairs', 'posttrain', 'sample', 'fid'];
  const producers = (s: Spec, id: string) =>
    Object.values(s.stages.find((x) => x.id === id)?.inputs ?? {})
      .map((ref) => ref.split('.')[0])
      .filter((p) => chain.includes(p ?? ''))
      .sort();
  // Same DAG; upstream's scripts also load the main-train checkpoint where ours do not need it
  // (train_rar.py builds the tokenizer for its periodic sample dumps).
  for (const id of chain)
    assert.deepEqual(
      producers(spec, id).filter((p) => !(id === 'generator' && p === 'tokenizer')),
      producers(ours, id),
      `${id} has the same upstream stages in both`,
    );
  const scripts: Record<string, string> = {
    tokenizer: 'tokenizer/tokenizer_image/xqgan_train.py',
    tokens: 'scripts/pretokenization.py',
    generator: 'scripts/train_rar.py',
    pairs: 'post_train_data.py',
    posttrain: 'tokenizer/tokenizer_image/xqgan_post_train.py',
    sample: 'sample_imagenet_rar.py',
    fid: 'evaluator.py',
  };
  for (const [id, script] of Object.entries(scripts)) {
    const c = cfg(spec, id) as { argv: string[]; params: Record<string, unknown> };
    assert.deepEqual(c.argv.slice(0, 2), ['sh', '-c'], id);
    assert.ok(c.argv[2]?.includes(script), `${id} runs ${script}`);
    assert.ok(!/\$\{(inputs|outputs|params|workdir)/.test(c.argv.join(' ')), `${id}: no placeholder in shell text`);
    assert.equal(c.params.checkout, '/opt/RobusTok', `${id} gets the checkout through the merged &common params`);
    if (id !== 'fid' && id !== 'generator') assert.match(c.argv[2] ?? '', /torchrun --(nnodes=1 --)?nproc_per_node "\$RT_PARAM_NPROC"/, id);
  }
  const large = loadShipped('upstream-torch.yaml', [
    'stages.generator.config.params.hidden_size=1024',
    'stages.generator.config.params.intermediate_size=4096',
    'stages.pairs.config.params.guidance_scale=6.75',
    'stages.pairs.config.params.guidance_scale_pow=1.01',
    'stages.pairs.config.params.randomize_temperature=1.04',
  ]);
  const p = (id: string) => (cfg(large, id) as { params: Record<string, unknown> }).params;
  for (const id of ['generator', 'pairs', 'sample']) assert.deepEqual([p(id).hidden_size, p(id).intermediate_size], [1024, 4096], id);
  assert.deepEqual([p('sample').guidance_scale, p('sample').guidance_scale_pow, p('sample').randomize_temperature], [6.75, 1.01, 1.04]);
  assert.equal(p('tokenizer').checkout, '/opt/RobusTok');
});
