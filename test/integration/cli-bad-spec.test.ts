/**
 * Bad specs exit with code 2 and file:line:column messages, and nothing is started: the CLI is
 * pointed at a Temporal address where no server listens, so reaching it would fail differently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/servers';

const GOOD = `apiVersion: robustok.dev/v1
name: bad-spec-test
stages:
  a:
    kind: command
    config:
      argv: [echo, hi]
      outputs: {out: o.txt}
  b:
    kind: command
    inputs: {x: a.out}
    config:
      argv: [cat, '\${inputs.x}']
`;

const cases: { name: string; spec: string; set?: string[]; expect: RegExp }[] = [
  { name: 'YAML syntax error', spec: GOOD.replace('argv: [echo, hi]', 'argv: [echo, hi'), expect: /spec\.yaml:\d+:\d+: .*\[YAML_SYNTAX\]/ },
  {
    name: 'unknown stage kind',
    spec: GOOD.replace('kind: command\n    inputs', 'kind: comand\n    inputs'),
    expect: /spec\.yaml:10:11: .*comand.*did you mean "command"/i,
  },
  {
    name: 'unknown key',
    spec: GOOD.replace('  b:\n', '  b:\n    timouts: {heartbeat: 10s}\n'),
    expect: /spec\.yaml:10:5: .*timouts.*did you mean "timeouts"/i,
  },
  { name: 'wrong type', spec: GOOD.replace('argv: [echo, hi]', 'argv: 42'), expect: /spec\.yaml:7:13: .*array/i },
  {
    name: 'cycle',
    spec: GOOD.replace('  a:\n    kind: command\n', '  a:\n    kind: command\n    inputs: {y: b.out}\n').replace(
      "argv: [cat, '${inputs.x}']",
      "argv: [cat, '${inputs.x}']\n      outputs: {out: o.txt}",
    ),
    expect: /cycle.*\ba\b.*\bb\b/is,
  },
  { name: 'dangling input', spec: GOOD.replace('x: a.out', 'x: a.missing'), expect: /spec\.yaml:11:\d+: .*missing/ },
  { name: 'bad --set', spec: GOOD, set: ['stages.zz.config.argv=[x]'], expect: /<--set>:1:\d+: .*zz/ },
];

for (const c of cases) {
  test(`${c.name}: exit 2, a located message, nothing started`, async () => {
    const dir = await tempDir('bad-spec');
    const spec = path.join(dir, 'spec.yaml');
    await writeFile(spec, c.spec);
    const env = { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:9', ROBUSTOK_HOME: dir, ROBUSTOK_STORE: `file:${dir}/store` };
    const args = ['run', spec, ...(c.set ?? []).flatMap((s) => ['--set', s])];
    const r = await runCli(args, env);
    assert.equal(r.code, 2, `exit code; stderr:\n${r.stderr}`);
    assert.match(r.stderr, c.expect);
    assert.doesNotMatch(r.stderr, /TEMPORAL_UNREACHABLE|not reachable/);
    const v = await runCli(['validate', spec, '--json', ...(c.set ?? []).flatMap((s) => ['--set', s])], env);
    assert.equal(v.code, 2);
    const issues = (JSON.parse(v.stdout) as { issues: { file: string; line: number; column: number; code: string }[] }).issues;
    assert.ok(issues.length > 0 && issues.every((i) => typeof i.code === 'string' && i.line >= 0 && i.column >= 0));
  });
}

test('a valid spec passes validate with exit 0', async () => {
  const dir = await tempDir('good-spec');
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(spec, GOOD.replace("argv: [cat, '${inputs.x}']", "argv: [cat, '${inputs.x}']\n      outputs: {out: o.txt}"));
  const r = await runCli(['validate', spec], { ...process.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is valid — 2 stages, 1 arm\(s\), 2 stage runs/);
});
