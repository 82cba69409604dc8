/**
 * Fault: a placeholder substituted into code that a shell or interpreter parses
 * (`argv: [sh, -c, "echo ${params.who}"]`), so a param such as `$(touch …)` — from the spec,
 * `--set` or a sweep — ran as shell code. Now `validate` (and `run`) reject such a spec with exit 2,
 * UNSAFE_PLACEHOLDER at the argv element and a pointer to the env-var form; a plan that skipped
 * validation is refused by the stage at run time; the env-var form runs the value as data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cliEnv, runCli } from '../helpers/cli';
import { commandRun, planOf, withLocalHarness } from '../helpers/pipeline-harness';
import { tempDir } from '../helpers/servers';

const UNSAFE = `apiVersion: robustok.dev/v1
name: shell-inject
stages:
  greet:
    kind: command
    config:
      argv: [sh, -c, 'echo \${params.who} > "$RT_OUTPUT_OUT"']
      params: {who: world}
      outputs: {out: o.txt}
  bash:
    kind: command
    config:
      argv:
        - /bin/bash
        - -ec
        - echo \${params.who}
      params: {who: world}
  viaenv:
    kind: command
    config:
      argv: [env, LC_ALL=C, sh, -c, "ls \${workdir}"]
  py:
    kind: command
    config:
      argv: [python3, -c, "print('\${params.who}')"]
      params: {who: world}
  js:
    kind: command
    config:
      argv: [node, --eval, "console.log('\${params.who}')"]
      params: {who: world}
  jsopt:
    kind: command
    config:
      argv: [node, -e, 'console.log(process.argv[1])', '\${params.who}']
      params: {who: world}
  safe:
    kind: command
    config:
      argv: [sh, -c, 'echo "$RT_PARAM_WHO" "$1"', sh, '\${params.who}']
      params: {who: world}
`;

/** 1-based line and column of the first occurrence of `needle` (an argv element as written), `skip` characters in. */
function position(text: string, needle: string, skip = 0): { line: number; column: number } {
  const i = text.indexOf(needle) + skip;
  assert.ok(i >= 0, needle);
  const before = text.slice(0, i).split('\n');
  return { line: before.length, column: (before[before.length - 1]?.length ?? 0) + 1 };
}

interface Issue {
  file: string;
  line: number;
  column: number;
  code: string;
  path: string;
  message: string;
}

test('validate rejects placeholders in code given to sh/bash/python/node, at the argv element, pointing to the env form', async () => {
  const dir = await tempDir('faults-shell');
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(spec, UNSAFE);
  const v = await runCli(['validate', spec, '--json'], { ...process.env });
  assert.equal(v.code, 2, v.stderr);
  const issues = (JSON.parse(v.stdout) as { issues: Issue[] }).issues;
  const expected: [string, string, RegExp, number?][] = [
    ['stages.greet.config.argv[2]', `'echo \${params.who} > "$RT_OUTPUT_OUT"'`, /'sh -c'.*"\$RT_PARAM_WHO"/],
    ['stages.bash.config.argv[2]', '- echo ${params.who}', /'\/bin\/bash -ec'.*"\$RT_PARAM_WHO"/, 2],
    ['stages.viaenv.config.argv[4]', '"ls ${workdir}"', /'sh -c'.*"\$RT_WORKDIR"/],
    ['stages.py.config.argv[2]', `"print('\${params.who}')"`, /'python3 -c'.*os\.environ\['RT_PARAM_WHO'\]/],
    ['stages.js.config.argv[2]', `"console.log('\${params.who}')"`, /'node --eval'.*process\.env\.RT_PARAM_WHO/],
    ['stages.jsopt.config.argv[3]', `'\${params.who}']`, /still reads its own options.*'--'/],
  ];
  assert.deepEqual(issues.map((i) => i.path).sort(), expected.map((e) => e[0]).sort(), JSON.stringify(issues, null, 2));
  for (const [p, element, message, skip] of expected) {
    const issue = issues.find((i) => i.path === p);
    assert.ok(issue, p);
    assert.equal(issue.code, 'UNSAFE_PLACEHOLDER');
    assert.deepEqual({ line: issue.line, column: issue.column }, position(UNSAFE, element, skip), p);
    assert.match(issue.message, message);
  }
  // The human form: file:line:column: message [CODE].
  const h = await runCli(['validate', spec], { ...process.env });
  assert.equal(h.code, 2);
  const at = position(UNSAFE, `'echo \${params.who}`);
  assert.ok(h.stderr.includes(`spec.yaml:${at.line}:${at.column}: `), h.stderr);
  assert.match(h.stderr, /\[UNSAFE_PLACEHOLDER\]/);
});

test('--set with $(…) never runs: the unsafe form is refused before anything starts, the env form passes it as data', async () => {
  const dir = await tempDir('faults-shell-set');
  const mark = path.join(dir, 'pwned');
  const copy = path.join(dir, 'copy.txt');
  const attack = `$(touch ${mark})`;
  const unsafe = path.join(dir, 'unsafe.yaml');
  await writeFile(unsafe, UNSAFE);
  const env = await cliEnv('shellset');
  const refused = await runCli(['run', unsafe, '--worker', '--set', `stages.greet.config.params.who=${attack}`], env);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /UNSAFE_PLACEHOLDER/);

  const safe = path.join(dir, 'safe.yaml');
  await writeFile(
    safe,
    `apiVersion: robustok.dev/v1
name: shell-safe
stages:
  greet:
    kind: command
    config:
      argv: [sh, -c, 'printf %s "$RT_PARAM_WHO" > "$COPY"']
      env: {COPY: ${copy}}
      params: {who: world}
`,
  );
  const ran = await runCli(['run', safe, '--worker', '--json', '--set', `stages.greet.config.params.who=${attack}`], env);
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(await readFile(copy, 'utf8'), attack, 'the value arrives as text');
  assert.equal(existsSync(mark), false, 'the $(…) was executed');
});

test('a plan that skipped validation is refused by the stage at run time (defence in depth), before anything runs', async () => {
  const dir = await tempDir('faults-shell-runtime');
  const mark = path.join(dir, 'pwned');
  await withLocalHarness('faults-shell-runtime', async (h) => {
    const run = commandRun('inject', {
      config: { argv: ['sh', '-c', 'echo ${params.who}'], params: { who: `$(touch ${mark})` } },
      outputs: [],
      maximumAttempts: 3,
    });
    const r = await h.run(planOf([run]));
    const s = r.stages.find((x) => x.id === 'inject');
    assert.equal(s?.outcome, 'failed');
    assert.equal(s.error?.code, 'CONFIG_INVALID');
    assert.match(s.error.message, /is code run by 'sh -c'/);
    assert.equal(s.attempts, 1, 'not retried');
  });
  assert.equal(existsSync(mark), false, 'the $(…) was executed');
});
