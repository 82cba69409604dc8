/**
 * The robustok bin on the compiled CLI (dist/, `npm run build`; CI builds it before the tests): every
 * command is reachable from the compiled output, including the lazily loaded ones, and the quick commands
 * load none of the heavy libraries (Temporal, tfjs, sharp, minio). The suite builds dist/ itself when it
 * is missing or older than the sources; ROBUSTOK_CLI=dist makes the bin run it even if a file is edited
 * in the checkout meanwhile.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { distIsCurrent } from '../../bin/dist-stamp.js';
import { buildDist } from '../../infra/build-dist';
import { ROOT } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const SPEC = path.join(ROOT, 'pipelines', 'demo-commands.yaml');
const HEAVY = ['@temporalio/', '@tensorflow/', 'sharp', 'minio', 'echarts', 'webpack'];

function robustok(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'robustok.js'), ...args], {
    cwd: os.tmpdir(),
    env: { ...process.env, ROBUSTOK_CLI: 'dist', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

let home = '';
let preload = '';

before(async () => {
  if (!distIsCurrent(ROOT)) await buildDist(() => undefined);
  home = await tempDir('bin-compiled-home');
  // Written at exit by the CLI process itself: every module file it loaded, from which package.
  preload = path.join(home, 'loaded-modules.js');
  await writeFile(preload, `process.on('exit', () => require('fs').writeFileSync(process.env.LOADED_OUT, JSON.stringify(Object.keys(require.cache))));\n`);
});

test('validate, plan and --help of the compiled CLI', async () => {
  const v = await robustok(['validate', SPEC]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout + v.stderr, /demo-commands/);
  const p = await robustok(['plan', SPEC, '--json'], { ROBUSTOK_HOME: home });
  assert.equal(p.code, 0, p.stderr);
  const plan = JSON.parse(p.stdout) as { stages?: unknown[]; runs?: unknown[] };
  assert.ok(JSON.stringify(plan).includes('combine'), p.stdout);
  const h = await robustok(['--help']);
  assert.equal(h.code, 0, h.stderr);
  for (const c of ['validate', 'plan', 'run', 'fid', 'model', 'server', 'schedule']) assert.match(h.stdout, new RegExp(`^  ${c}\\b`, 'm'), `--help lists ${c}`);
  const s = await robustok(['server', '--help']);
  assert.match(s.stdout, /start/);
  assert.match(s.stdout, /stop/);
  assert.match(s.stdout, /status/);
});

test('the lazily loaded commands resolve in dist/: fid --help, model forward --help, and their own errors', async () => {
  const f = await robustok(['fid', '--help']);
  assert.equal(f.code, 0, f.stderr);
  assert.match(f.stdout, /--random-weights/);
  const m = await robustok(['model', 'forward', '--help']);
  assert.equal(m.code, 0, m.stderr);
  assert.match(m.stdout, /robustok-tokenizer/);
  // An action runs the lazily imported module: its typed error, not a module-resolution failure.
  const fe = await robustok(['fid', 'no-such-a.npy', 'no-such-b.npy']);
  assert.equal(fe.code, 1, fe.stderr);
  assert.match(fe.stderr, /INPUT_MISSING.*no-such-a\.npy/);
  assert.doesNotMatch(fe.stderr, /ERR_MODULE_NOT_FOUND|Cannot find module/);
  const r = await robustok(['runs', '--json'], { ROBUSTOK_HOME: home });
  assert.equal(r.code, 0, r.stderr);
});

for (const cmd of [['validate', SPEC], ['plan', SPEC], ['--help']]) {
  test(`robustok ${cmd[0]} loads none of Temporal, tfjs, sharp, minio, echarts, webpack`, async () => {
    const out = path.join(home, `loaded-${cmd[0]?.replace(/\W/g, '')}.json`);
    const r = await robustok(cmd, { ROBUSTOK_HOME: home, NODE_OPTIONS: `--require ${preload}`, LOADED_OUT: out });
    assert.equal(r.code, 0, r.stderr);
    const loaded = JSON.parse(await readFile(out, 'utf8')) as string[];
    assert.ok(
      loaded.some((f) => f.startsWith(path.join(ROOT, 'dist'))),
      'the compiled CLI ran',
    );
    const heavy = loaded.filter((f) => HEAVY.some((h) => f.includes(`node_modules/${h}`)));
    assert.deepEqual(heavy, []);
  });
}
