/**
 * Output larger than a pipe's buffer reaches the reader whole: the CLI ends with process.exit(), which
 * dropped everything past the first 64 KiB of `npx tsx bin/cli.ts schema | jq` (the README's way to
 * run the sources; tsx's CLI relays the output through its own pipe) — the schema is ~128 KiB.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/cli';

const TSX_CLI = path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'cli.mjs');
const WAYS: Record<string, string[]> = {
  'the robustok bin': [path.join(ROOT, 'bin', 'robustok.js')],
  'npx tsx bin/cli.ts': [TSX_CLI, path.join(ROOT, 'bin', 'cli.ts')],
};

for (const [way, argv] of Object.entries(WAYS)) test(`schema through a pipe is complete JSON (${way})`, () => schemaThroughPipe(argv));

async function schemaThroughPipe(argv: string[]): Promise<void> {
  // A shell pipe (64 KiB of kernel buffer) to a reader that starts late, as `… | jq` can: Node's own
  // child pipes are socket pairs with buffers big enough to hide the loss.
  const q = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
  const cmd = `${[process.execPath, ...argv, 'schema'].map(q).join(' ')} | (sleep 1; cat)`;
  const child = spawn('/bin/sh', ['-c', cmd], { cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => chunks.push(b));
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  const text = Buffer.concat(chunks).toString('utf8');
  assert.ok(text.length > 65536, `only ${text.length} bytes arrived`);
  const schema = JSON.parse(text) as { $schema?: string; type?: string };
  assert.equal(typeof schema, 'object');
  assert.ok('properties' in schema || 'type' in schema, 'a JSON Schema document');
}
