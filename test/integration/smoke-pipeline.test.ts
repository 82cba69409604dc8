/**
 * README command 1, as a new user runs it: `robustok run pipelines/smoke.yaml` through the installed
 * bin on the embedded default (its own Temporal dev server, a local store under ROBUSTOK_HOME, no
 * configuration). Every stage is real; the run prints the FID with its network's provenance, the
 * compute backend and the report path; what each stage learned is checked, not only that it ran;
 * the second run is all cached.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

interface StageJson {
  id: string;
  outcome: string;
  durationMs: number;
  metrics: Record<string, number | string | null>;
}

function robustok(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'robustok.js'), ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started })));
}

test('pipelines/smoke.yaml end to end on the embedded default through the robustok bin; the second run is all cached', async () => {
  const home = await tempDir('smoke');
  // The embedded default: no server address and no store configured (the test servers' settings removed).
  const env: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_HOME: home };
  for (const k of Object.keys(env))
    if (k.startsWith('TEMPORAL_') || k.startsWith('ROBUSTOK_S3_') || k === 'ROBUSTOK_STORE' || k === 'ROBUSTOK_QUEUE_PREFIX') delete env[k];
  const spec = path.join(ROOT, 'pipelines', 'smoke.yaml');

  const first = await robustok(['run', spec], env, home);
  assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
  assert.match(first.stdout, /fid: FID \d+\.\d+.*randomly initialised Inception: .*NOT comparable/);
  assert.match(first.stdout, /compute backend: \w+/);
  assert.match(first.stdout, /8 ran, 0 cached, 0 failed/);
  console.log(`smoke: first run ${(first.ms / 1000).toFixed(0)} s\n${first.stdout}`);

  const again = await robustok(['run', spec, '--json'], env, home);
  assert.equal(again.code, 0, again.stderr);
  const record = JSON.parse(again.stdout) as { stages: StageJson[] };
  assert.deepEqual(
    record.stages.map((s) => s.outcome),
    record.stages.map(() => 'cached'),
    'the second run is all cached',
  );
  const m = (id: string) => record.stages.find((s) => s.id === id)?.metrics ?? {};

  // What each stage learned (the numbers the README reports).
  const tok = m('tokenizer');
  assert.ok((tok.psnrGain as number) > 3, `tokenizer PSNR gain ${tok.psnrGain} dB`);
  const gen = m('generator');
  assert.ok((gen.finalLoss as number) < (gen.unigramEntropy as number), `generator loss ${gen.finalLoss} vs unigram entropy ${gen.unigramEntropy}`);
  const post = m('posttrain');
  assert.ok(
    (post.pairMseAfter as number) < (post.pairMseBefore as number),
    `held-out generated→real MSE ${post.pairMseBefore} before post-training, ${post.pairMseAfter} after`,
  );
  assert.ok(Number.isFinite(m('fid').fid));
});
