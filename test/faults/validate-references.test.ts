/**
 * Fault: specs that `validate` passed but that could only fail at run time — an argv placeholder
 * naming an input the stage does not wire, or a param/output its config does not declare — and a
 * `--set` on a path that does not exist, which was silently added (so a typo changed nothing).
 * Now all of them are exit 2 at validate time, located at the argv element or the --set key.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadPlan } from '../../cli/load-plan';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const SPEC = `apiVersion: robustok.dev/v1
name: refs
stages:
  a:
    kind: command
    config:
      argv: [echo, hi, '\${outputs.out}']
      outputs: {out: o.txt}
  b:
    kind: command
    inputs: {x: a.out}
    config:
      argv: [cat, '\${inputs.x}', ARG]
      params: {lr: 0.1}
`;

async function issuesOf(text: string, sets: string[] = []): Promise<string[]> {
  const dir = await tempDir('faults-refs');
  const file = path.join(dir, 'spec.yaml');
  await writeFile(file, text);
  const r = await loadPlan(file, sets);
  return r.ok ? [] : r.issues.map((i) => `${path.basename(i.file)}:${i.line}:${i.column} ${i.code} ${i.path} ${i.message}`);
}

test('an argv placeholder naming an input the stage does not wire is INPUT_MISSING at that element', async () => {
  const issues = await issuesOf(SPEC.replace('ARG', "'${inputs.y}'"));
  assert.equal(issues.length, 1, issues.join('\n'));
  assert.match(
    issues[0] ?? '',
    /^spec\.yaml:13:34 INPUT_MISSING stages\.b\.config\.argv\[2\] "b" refers to input "y", which it does not wire \(did you mean "x"\?\)/,
  );
});

test('an argv placeholder naming an undeclared param or output is CONFIG_INVALID at that element', async () => {
  const issues = await issuesOf(SPEC.replace('ARG', "'${params.lrr}', '${outputs.model}'"));
  assert.equal(issues.length, 2, issues.join('\n'));
  assert.match(
    issues[0] ?? '',
    /^spec\.yaml:13:34 CONFIG_INVALID stages\.b\.config\.argv\[2\] argv\[2\] uses \$\{params\.lrr\}: no param "lrr" is declared \(did you mean "lr"\?\)/,
  );
  assert.match(issues[1] ?? '', /^spec\.yaml:13:51 CONFIG_INVALID stages\.b\.config\.argv\[3\] argv\[3\] uses \$\{outputs\.model\}: no output "model"/);
});

test('--set on a path that does not exist is refused, not silently added; on an existing one it applies', async () => {
  const valid = SPEC.replace('ARG', "'${params.lr}'");
  assert.deepEqual(await issuesOf(valid, ['stages.b.config.params.lr=0.2']), []);
  const issues = await issuesOf(valid, ['stages.b.config.params.lrr=0.2']);
  assert.equal(issues.length, 1, issues.join('\n'));
  assert.match(issues[0] ?? '', /^<--set>:1:24 OVERRIDE_INVALID stages\.b\.config\.params\.lrr .*has no "lrr" \(did you mean "lr"\?\)/);
  // Through the real CLI: exit 2, and the message points into the argument.
  const dir = await tempDir('faults-refs-cli');
  const file = path.join(dir, 'spec.yaml');
  await writeFile(file, valid);
  const r = await runCli(['validate', file, '--set', 'stages.b.config.params.lrr=0.2'], { ...process.env });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /<--set>:1:24: .*has no "lrr".*\[OVERRIDE_INVALID\]/);
});
