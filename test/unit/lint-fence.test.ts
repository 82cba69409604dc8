/** The ESLint fence keeps I/O, tensors and nondeterminism out of workflow code (ARCHITECTURE §3). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '..', '..');

test('a workflow file importing fs or tfjs, or calling Math.random, fails npm run lint', async () => {
  const eslint = new ESLint({ cwd: root, ignore: false });
  const fixture = path.join(root, 'test', 'fixtures', 'lint', 'workflows', 'imports-io.ts');
  const [result] = await eslint.lintFiles([fixture]);
  assert.ok(result);
  const messages = result.messages.map((m) => `${m.ruleId ?? ''}: ${m.message}`);
  assert.ok(
    messages.some((m) => m.startsWith('no-restricted-imports') && /'fs'.*I\/O/.test(m)),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => m.startsWith('no-restricted-imports') && /@tensorflow\/tfjs.*tensors/.test(m)),
    messages.join('\n'),
  );
  assert.ok(
    messages.some((m) => m.startsWith('no-restricted-properties') && /Math\.random/.test(m)),
    messages.join('\n'),
  );
  assert.ok(result.errorCount >= 3);
});

test('the real workflows/ folder passes the fence', async () => {
  const eslint = new ESLint({ cwd: root });
  const results = await eslint.lintFiles([path.join(root, 'workflows')]);
  const errors = results.flatMap((r) => r.messages.filter((m) => m.severity === 2).map((m) => `${r.filePath}:${m.line} ${m.message}`));
  assert.deepEqual(errors, []);
});
