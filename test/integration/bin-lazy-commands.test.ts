/**
 * Commands the CLI loads lazily (`import('./x.js')`) work through the `robustok` bin users run, from any
 * working directory: bad arguments get the command's own error, not a module-resolution stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/cli';

function robustok(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'robustok.js'), ...args], { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

test('robustok fid with missing inputs: INPUT_MISSING naming the file, exit 1', async () => {
  const r = await robustok(['fid', 'no-such-a.npy', 'no-such-b.npy']);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /INPUT_MISSING.*no-such-a\.npy/);
  assert.doesNotMatch(r.out, /ERR_MODULE_NOT_FOUND|\n\s+at /);
});

test('robustok model forward with an unknown arch: CONFIG_INVALID listing the archs, exit 1', async () => {
  const r = await robustok(['model', 'forward', '--arch', 'no-such-arch', '--input', 'x.npy', '--out', 'o']);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /CONFIG_INVALID.*unknown arch "no-such-arch".*robustok-tokenizer/);
  assert.doesNotMatch(r.out, /ERR_MODULE_NOT_FOUND|\n\s+at /);
});
