/**
 * The commands users reach for after a run — runs, compare, logs, get, gc — on the real Temporal
 * dev server and MinIO, driving the CLI (and `runs` through the installed `robustok` bin).
 * Two runs of a two-stage command pipeline; `make` fails its first attempt (so it has a failed
 * log), prints a secret and 600 KB of stdout (so its stored log is redacted and bounded).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { LOG_HEAD_BYTES, LOG_TAIL_BYTES, listAttemptLogs, readAttemptLog } from '../../artifacts/attempt-logs';
import { lookupManifest } from '../../artifacts/manifest';
import { openStore } from '../../artifacts/open-store';
import { listRunIds, resolveRun } from '../../cli/run-history';
import { applyGc, planGc } from '../../cli/store-gc';
import { getCommand } from '../../cli/commands/get';
import { logsCommand } from '../../cli/commands/logs';
import { ROOT, cliEnv, parseJson, runCli } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const CHATTY = path.join(ROOT, 'test', 'fixtures', 'commands', 'chatty.js');
const SECRET = 'tok-4f8a91c2e7d3b6a0';

function spec(flags: string): string {
  return `apiVersion: robustok.dev/v1
name: after-run
defaults:
  queue: cpu
  retry: {maximumAttempts: 2, initialInterval: 200ms}
stages:
  make:
    kind: command
    config:
      argv: [node, ${CHATTY}, make, '\${outputs.file}', '\${outputs.dir}', '0', ${flags}]
      outputs: {file: out.txt, dir: outdir}
      passEnv: [MY_API_TOKEN, CHATTY_BYTES]
  score:
    kind: command
    inputs: {file: make.file}
    config:
      argv: [node, ${CHATTY}, score, '\${outputs.file}', '\${outputs.dir}', '\${params.fid}']
      params: {fid: 12.5}
      outputs: {file: s.txt, dir: sdir}
      metricsFile: metrics.json
      passEnv: [CHATTY_SLEEP_MS]
`;
}

interface RunJson {
  runId: string;
  outcome: string;
  stages: { id: string; outcome: string; attempts: number }[];
}

let env: NodeJS.ProcessEnv;
let dir: string;
let specFile: string;
let r1: RunJson;
let r2: RunJson;

before(async () => {
  dir = await tempDir('after-run');
  await mkdir(path.join(dir, 'flags'));
  specFile = path.join(dir, 'pipeline.yaml');
  await writeFile(specFile, spec(path.join(dir, 'flags')));
  env = { ...(await cliEnv('afterrun')), MY_API_TOKEN: SECRET, CHATTY_BYTES: String(600 * 1024) };
  // In-process checks open the same store.
  for (const k of ['ROBUSTOK_S3_ENDPOINT', 'ROBUSTOK_S3_ACCESS_KEY', 'ROBUSTOK_S3_SECRET_KEY']) process.env[k] = env[k];
  const first = await runCli(['run', specFile, '--worker', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  r1 = parseJson<RunJson>(first);
  assert.deepEqual(
    r1.stages.map((s) => [s.id, s.outcome, s.attempts]),
    [
      ['make', 'ran', 2],
      ['score', 'ran', 1],
    ],
  );
  const second = await runCli(['run', specFile, '--worker', '--json', '--set', 'stages.score.config.params.fid=10.25'], env);
  assert.equal(second.code, 0, second.stderr);
  r2 = parseJson<RunJson>(second);
  assert.deepEqual(
    r2.stages.map((s) => [s.id, s.outcome]),
    [
      ['make', 'cached'],
      ['score', 'ran'],
    ],
  );
});

function robustokBin(args: string[], e: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'robustok.js'), ...args], { cwd: os.tmpdir(), env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

test('robustok runs (through the bin): newest first, outcome, duration, best FID; a table without --json', async () => {
  const r = await robustokBin(['runs', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    total: number;
    runs: { runId: string; name: string; outcome: string; durationMs: number; stages: Record<string, number>; best?: { metric: string; value: number } }[];
  };
  assert.equal(out.total, 2);
  assert.deepEqual(
    out.runs.map((x) => x.runId),
    [r2.runId, r1.runId],
  );
  assert.ok(out.runs.every((x) => x.name === 'after-run' && x.outcome === 'succeeded' && x.durationMs > 0));
  assert.deepEqual(
    out.runs.map((x) => x.best),
    [
      { metric: 'score.fid', value: 10.25, arm: '', comparable: true },
      { metric: 'score.fid', value: 12.5, arm: '', comparable: true },
    ],
  );
  assert.deepEqual(out.runs[0]?.stages, { ran: 1, cached: 1, failed: 0, skipped: 0 });

  const table = await runCli(['runs', '--limit', '1'], env);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, new RegExp(`^RUN .*BEST\\n${r2.runId}\\s+after-run\\s+succeeded .*score\\.fid 10\\.250`, 'm'));
  assert.match(table.stdout, /1 older runs not shown/);
});

test('robustok compare: the changed config path per stage, metrics side by side with the delta', async () => {
  const r = await runCli(['compare', r1.runId, r2.runId, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as {
    stages: { stageId: string; sameKey: boolean; changes: string[] }[];
    arms: { metrics: { metric: string; a: number; b: number; delta: number }[] }[];
  };
  assert.deepEqual(
    out.stages.map((s) => [s.stageId, s.sameKey]),
    [
      ['make', true],
      ['score', false],
    ],
  );
  assert.deepEqual(out.stages[1]?.changes, ['config.params.fid: 12.5 → 10.25']);
  assert.deepEqual(
    out.arms[0]?.metrics.find((m) => m.metric === 'score.fid'),
    { metric: 'score.fid', a: 12.5, b: 10.25, delta: -2.25 },
  );
  const text = await runCli(['compare', r1.runId.slice(0, -2), r2.runId], env);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /make: same key/);
  assert.match(text.stdout, /score: differs \(ran\)\n\s+- config\.params\.fid: 12\.5 → 10\.25/);
  assert.match(text.stdout, /score\.fid\s+12\.5000\s+10\.2500\s+-2\.250 \(-18\.0%\)/);
});

test('robustok logs: failed and successful attempts stored, redacted and bounded; a cached stage shows its producer', async () => {
  const list = await runCli(['logs', r1.runId, '--json'], env);
  assert.equal(list.code, 0, list.stderr);
  const stages = (JSON.parse(list.stdout) as { stages: { id: string; logs: { attempt: number; outcome: string; bytes: number; originalBytes: number }[] }[] })
    .stages;
  const make = stages.find((s) => s.id === 'make');
  assert.deepEqual(
    make?.logs.map((l) => [l.attempt, l.outcome]),
    [
      [1, 'failed'],
      [2, 'succeeded'],
    ],
  );
  for (const l of make?.logs ?? []) {
    assert.ok(l.originalBytes > 600 * 1024, `original ${l.originalBytes}`);
    assert.ok(l.bytes <= LOG_HEAD_BYTES + LOG_TAIL_BYTES + 200, `stored ${l.bytes}`);
  }

  const failed = await runCli(['logs', r1.runId, 'make', '--attempt', '1'], env);
  assert.equal(failed.code, 0, failed.stderr);
  // (not assert.match: on failure it would print the whole 512 KiB log)
  const has = (re: RegExp) =>
    assert.ok(re.test(failed.stdout), `${String(re)} not in the log; it starts:\n${failed.stdout.slice(0, 1500)}\n…ends:\n${failed.stdout.slice(-600)}`);
  has(/^# run [^\n]*, stage make \(command\), attempt 1 on [^\n]*\n# key [0-9a-f]{64}\n# [^\n]*: failed \[COMMAND_FAILED\]/);
  has(/== stdout ==\nmake: start, token \*\*\*\n/);
  has(/bytes omitted: a stored log keeps its first 64 KiB and last 448 KiB/);
  has(/== stderr ==\nmake: a warning on stderr\nmake: failing on purpose \(first attempt\)\n$/);
  assert.ok(!failed.stdout.includes(SECRET) && !failed.stderr.includes(SECRET), 'the secret never appears');

  const last = await runCli(['logs', r1.runId, 'make'], env);
  assert.equal(last.code, 0, last.stderr);
  assert.match(last.stderr, /make: attempt 2 succeeded/);
  assert.ok(/make: end\n/.test(last.stdout), last.stdout.slice(-600));

  const cached = await runCli(['logs', r2.runId, 'make'], env);
  assert.equal(cached.code, 0, cached.stderr);
  assert.match(cached.stderr, /cached in this run; the log of the attempt 2 succeeded/);
  assert.ok(cached.stdout === last.stdout, 'the same log as the producing run shows');

  // Error paths in-process (each CLI start costs seconds on a loaded machine).
  await assert.rejects(logsCommand(r1.runId, 'nosuch', { store: env.ROBUSTOK_STORE }), /run after-run-\S+ has no stage 'nosuch'; its stages: make, score/);
  await assert.rejects(logsCommand('no-such-run', 'make', { store: env.ROBUSTOK_STORE }), /no finished run 'no-such-run' in s3:\/\/\S+ \(2 run records/);
});

test('robustok get: a file and a directory, byte-exact; refuses a non-empty dest without --force', async () => {
  const out = await tempDir('after-run-get');
  const file = path.join(out, 'out.txt');
  const r = await runCli(['get', r1.runId, 'make.file', file], env);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await readFile(file, 'utf8'), 'make 0\n');
  const d = path.join(out, 'sdir');
  assert.equal((await runCli(['get', r2.runId, 'score.dir', d, '--json'], env)).code, 0);
  assert.deepEqual((await readdir(d, { recursive: true })).sort(), ['a.txt', 'sub', 'sub/b.txt']);
  assert.equal(await readFile(path.join(d, 'sub', 'b.txt'), 'utf8'), 'b of score\n');

  const refused = await runCli(['get', r2.runId, 'score.file', file], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /refusing to overwrite .*out\.txt.*--force/);
  assert.equal(await readFile(file, 'utf8'), 'make 0\n', 'untouched');
  assert.equal((await runCli(['get', r2.runId, 'score.file', file, '--force'], env)).code, 0);
  assert.equal(await readFile(file, 'utf8'), 'score 10.25\n');
  assert.deepEqual((await readdir(out)).sort(), ['out.txt', 'sdir'], 'no temporary left behind');

  await assert.rejects(
    getCommand(r1.runId, 'make.nope', path.join(out, 'x'), { store: env.ROBUSTOK_STORE }),
    /no output 'nope': its outputs are (file, dir|dir, file)/,
  );
});

test('robustok gc --keep-runs 1: a dry run deletes nothing; --apply removes the old run only, and the kept one stays whole', async () => {
  const dry = await runCli(['gc', '--keep-runs', '1', '--json', '--work-root', dir], env);
  assert.equal(dry.code, 0, dry.stderr);
  const plan = JSON.parse(dry.stdout) as { keptRuns: string[]; removedRuns: string[]; blobs: number; bytes: { store: number }; freed?: unknown };
  assert.deepEqual(plan.keptRuns, [r2.runId]);
  assert.deepEqual(plan.removedRuns, [r1.runId]);
  // r1's score outputs (fid 12.5) and its attempt logs are referenced by nothing kept.
  assert.ok(plan.blobs >= 3 && plan.bytes.store > 0, dry.stdout);
  assert.equal(plan.freed, undefined);
  // Checks read the store in-process: every CLI start costs seconds on a loaded machine.
  const store = openStore(env.ROBUSTOK_STORE ?? '');
  assert.deepEqual((await listRunIds(store)).sort(), [r1.runId, r2.runId].sort(), 'dry run deleted nothing');

  const applied = await runCli(['gc', '--keep-runs', '1', '--apply', '--work-root', dir], env);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /freed \d/);
  assert.deepEqual(await listRunIds(store), [r2.runId]);
  assert.deepEqual(await listAttemptLogs(store, r1.runId), [], "the old run's log indexes went with it");
  // The kept run is whole: its outputs (make's from the cache entry r1 produced) and that entry's log still read.
  const out = await tempDir('after-run-gc');
  assert.equal((await runCli(['get', r2.runId, 'make.dir', path.join(out, 'd')], env)).code, 0);
  const make = (await resolveRun(store, r2.runId)).stages.find((x) => x.id === 'make');
  const entry = await lookupManifest(store, make?.key ?? '', { verify: true });
  assert.ok(entry.state === 'hit' && entry.manifest.log !== undefined);
  assert.match(await readAttemptLog(store, entry.manifest.log), /make: end\n/);
  const again = parseJson<RunJson>(await runCli(['run', specFile, '--worker', '--json', '--set', 'stages.score.config.params.fid=10.25'], env));
  assert.deepEqual(
    again.stages.map((x) => x.outcome),
    ['cached', 'cached'],
    'the kept entries still serve the cache',
  );
  const second = await planGc(store, 2);
  assert.equal(second.blobs.length, 0, 'nothing left to collect');
});

test('gc while a run is going: the entries it took from the cache and the stage it is running survive --keep-runs 0', async () => {
  const store = openStore(env.ROBUSTOK_STORE ?? '');
  const before = new Set(await store.list('runs/'));
  // score sleeps 4 s before writing its outputs: gc runs (in-process, fast) while it is alive.
  const going = runCli(['run', specFile, '--worker', '--json', '--set', 'stages.score.config.params.fid=7'], { ...env, CHATTY_SLEEP_MS: '4000' });
  let ended: Awaited<typeof going> | undefined;
  void going.then((r) => (ended = r));
  const alive = async () => (await store.list('runs/')).some((k) => k.includes('/alive/') && !before.has(k));
  const t0 = Date.now();
  while (!(await alive())) {
    assert.equal(ended, undefined, `the run ended before its score stage was seen running: ${ended?.stderr ?? ''}`);
    assert.ok(Date.now() - t0 < 120_000, 'the score stage did not start within 2 minutes');
    await new Promise((r) => setTimeout(r, 100));
  }
  const plan = await planGc(store, 0);
  assert.equal(plan.keptRuns.length, 0);
  assert.equal(plan.inFlightRuns.length, 1, JSON.stringify(plan.inFlightRuns));
  await applyGc(store, plan);
  assert.deepEqual(await listRunIds(store), [], 'every finished run record went');

  const r = await going;
  assert.equal(r.code, 0, r.stderr);
  const r3 = parseJson<RunJson>(r);
  assert.equal(r3.runId, plan.inFlightRuns[0]);
  assert.deepEqual(
    r3.stages.map((x) => x.outcome),
    ['cached', 'ran'],
  );
  // Both outputs read back whole: make's entry (a cache hit of the going run) and score's fresh upload.
  const out = await tempDir('after-run-live');
  await getCommand(r3.runId, 'make.dir', path.join(out, 'make'), { store: env.ROBUSTOK_STORE });
  await getCommand(r3.runId, 'score.file', path.join(out, 'score.txt'), { store: env.ROBUSTOK_STORE });
  assert.equal(await readFile(path.join(out, 'score.txt'), 'utf8'), 'score 7\n');
});
