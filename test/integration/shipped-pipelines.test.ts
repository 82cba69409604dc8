/**
 * Every pipeline we ship validates and plans through the `robustok` bin users run (bin/robustok.js,
 * not tsx directly): a kind renamed or a config key dropped must not leave a shipped YAML broken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
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

const specs = readdirSync(path.join(ROOT, 'pipelines')).filter((f) => f.endsWith('.yaml')).sort();

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
    assert.ok(plan.runs.every((r) => r.status === 'will run'), JSON.stringify(plan.runs.map((r) => r.status)));
  });
}
