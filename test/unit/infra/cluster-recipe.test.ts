/**
 * infra/cluster/ cannot be run here (no Docker daemon), so it is checked against the code it must
 * agree with: the compose file parses; every environment name our images are given is one the code
 * reads (the list is grepped from the sources now, so a renamed variable fails this test); every
 * command is a real CLI command with real options (asked from the CLI's own --help); the Dockerfile
 * builds from the lockfile, copies every source folder and runs the native-backend script after
 * `npm ci`; MinIO is built from the commit infra/versions.ts pins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { MINIO } from '../../../infra/versions';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CLUSTER = path.join(ROOT, 'infra', 'cluster');
const read = (f: string) => readFileSync(f, 'utf8');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  profiles?: string[];
  runtime?: string;
  deploy?: { resources?: { reservations?: { devices?: { driver?: string; capabilities?: string[] }[] } } };
}

const compose = YAML.parse(read(path.join(CLUSTER, 'compose.yaml')), { merge: true }) as { services: Record<string, Service> };
const ours = Object.entries(compose.services).filter(([, s]) => s.build?.dockerfile === 'infra/cluster/Dockerfile');

/** Every environment name the project's code reads: process.env.X / env.X / env['X'] in TS, ${X} / $X in its shell scripts. */
function namesTheCodeReads(): Set<string> {
  const names = new Set<string>();
  const skip = new Set(['node_modules', 'test', 'bench', 'tmp', 'test-artifacts']);
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.') || skip.has(e.name)) continue;
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts'))
        for (const m of read(p).matchAll(/\benv\??\.([A-Z][A-Z0-9_]*)|\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)) names.add(m[1] ?? m[2] ?? '');
      else if (e.name.endsWith('.sh')) for (const m of read(p).matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)) names.add(m[1] ?? '');
    }
  };
  walk(ROOT);
  names.delete('');
  return names;
}

test('the compose file parses and has the services of the recipe', () => {
  for (const name of ['postgresql', 'temporal', 'temporal-ui', 'minio', 'worker-cpu', 'worker-gpu']) assert.ok(compose.services[name], `service ${name}`);
  assert.deepEqual(ours.map(([n]) => n).sort(), ['worker-cpu', 'worker-gpu']);
  const gpu = compose.services['worker-gpu'];
  assert.equal(gpu?.runtime, 'nvidia');
  assert.equal(gpu?.build?.target, 'gpu');
  assert.ok(gpu?.deploy?.resources?.reservations?.devices?.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu')));
  assert.equal(compose.services['worker-cpu']?.build?.target, 'cpu');
});

test('every environment name given to our images is one the code reads', () => {
  const known = namesTheCodeReads();
  // Sanity of the grep itself: names we know the loader reads.
  for (const n of ['TEMPORAL_ADDRESS', 'ROBUSTOK_STORE', 'ROBUSTOK_S3_ENDPOINT', 'ROBUSTOK_S3_ACCESS_KEY', 'ROBUSTOK_S3_SECRET_KEY', 'ROBUSTOK_HOME'])
    assert.ok(known.has(n), `grep found ${n}`);
  // Read by the NVIDIA container runtime (which devices and driver parts to mount), not by our code.
  const runtimeNames = new Set(['NVIDIA_VISIBLE_DEVICES', 'NVIDIA_DRIVER_CAPABILITIES']);
  for (const [name, s] of ours) {
    const env = s.environment ?? {};
    for (const k of Object.keys(env)) assert.ok(known.has(k) || (runtimeNames.has(k) && s.runtime === 'nvidia'), `${name} sets ${k}, which no code reads`);
    for (const k of ['TEMPORAL_ADDRESS', 'ROBUSTOK_STORE', 'ROBUSTOK_S3_ENDPOINT', 'ROBUSTOK_S3_ACCESS_KEY', 'ROBUSTOK_S3_SECRET_KEY'])
      assert.ok(k in env, `${name} sets ${k}`);
    assert.match(String(env.ROBUSTOK_STORE), /^s3:\/\//, `${name}: workers on several hosts need a shared (s3://) store`);
  }
  const dockerEnv = [...read(path.join(CLUSTER, 'Dockerfile')).matchAll(/^ENV\s+((?:.|\\\n)*)$/gm)].flatMap((m) =>
    [...(m[1] ?? '').matchAll(/([A-Z][A-Z0-9_]*)=/g)].map((x) => x[1] ?? ''),
  );
  assert.ok(dockerEnv.length > 0);
  for (const k of dockerEnv.filter((k) => k !== 'NODE_ENV')) assert.ok(known.has(k), `Dockerfile sets ${k}, which no code reads`);
});

test('every ${VAR:?…} the compose file requires is in example.env', () => {
  const required = new Set([...read(path.join(CLUSTER, 'compose.yaml')).matchAll(/\$\{([A-Z][A-Z0-9_]*):\?/g)].map((m) => m[1]));
  const example = new Set([...read(path.join(CLUSTER, 'example.env')).matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  for (const r of required) assert.ok(example.has(r), `example.env sets ${String(r)}`);
});

test('every worker command is a real CLI command with real options', async () => {
  const dockerCmds = [...read(path.join(CLUSTER, 'Dockerfile')).matchAll(/^CMD\s+(\[.*\])$/gm)].map((m) => JSON.parse(m[1] ?? '[]') as string[]);
  const commands = [...ours.map(([, s]) => s.command ?? []), ...dockerCmds];
  assert.ok(commands.length >= 4);
  const help = new Map<string, string>();
  for (const argv of commands) {
    const name = argv[0] ?? '';
    if (!help.has(name)) {
      const r = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bin', 'cli.ts'), name, '--help'], { cwd: ROOT });
      assert.match(r.stdout, new RegExp(`^Usage: robustok ${name}\\b`, 'm'), `'${name}' is a robustok command`);
      help.set(name, r.stdout);
    }
    for (const flag of argv.filter((a) => a.startsWith('--'))) assert.match(help.get(name) ?? '', new RegExp(`${flag}\\b`), `robustok ${name} takes ${flag}`);
  }
});

test('the worker image builds from the lockfile, copies every source folder and runs the CLI', () => {
  const docker = read(path.join(CLUSTER, 'Dockerfile'));
  assert.match(docker, /COPY package\.json package-lock\.json/);
  const ci = docker.search(/RUN npm ci\b/);
  const native = docker.search(/RUN bash infra\/native-tensorflow\.sh/);
  assert.ok(ci >= 0 && native > ci, 'npm ci, then the native backend');
  assert.match(docker, /ENTRYPOINT \["node", "bin\/robustok\.js"\]/);
  const copied = new Set([...docker.matchAll(/^COPY (\S+) \.\/\1$/gm)].map((m) => m[1]));
  for (const src of copied) assert.ok(existsSync(path.join(ROOT, String(src))), `COPY ${String(src)} exists`);
  // Every top-level folder holding runtime sources (not tests or benchmarks) is in the image.
  const skip = new Set(['node_modules', 'test', 'bench', 'tmp', 'test-artifacts']);
  const sourceDirs = readdirSync(ROOT, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && !skip.has(e.name))
    .filter((e) => readdirSync(path.join(ROOT, e.name), { recursive: true }).some((f) => String(f).endsWith('.ts')))
    .map((e) => e.name);
  for (const d of sourceDirs) assert.ok(copied.has(d), `the image copies ${d}/`);
  for (const target of ['cpu', 'gpu']) assert.match(docker, new RegExp(`^FROM base AS ${target}$`, 'm'));
});

test('the flags the image passes to infra/native-tensorflow.sh are ones it documents and parses', async () => {
  const docker = read(path.join(CLUSTER, 'Dockerfile'));
  const script = path.join(ROOT, 'infra', 'native-tensorflow.sh');
  const help = (await promisify(execFile)('bash', [script, '--help'])).stdout;
  const flags = [...docker.matchAll(/infra\/native-tensorflow\.sh((?: --?[a-z-]+)*)/g)].flatMap((m) => (m[1] ?? '').trim().split(/\s+/).filter(Boolean));
  assert.ok(flags.includes('--gpu'), 'the gpu target builds the GPU backend');
  for (const f of flags) {
    assert.match(help, new RegExp(`${f}\\b`), `--help documents ${f}`);
    assert.match(read(script), new RegExp(`== ${f}\\b`), `the script parses ${f}`);
  }
});

test('MinIO is built from the pinned commit', () => {
  const m = /ARG MINIO_GO_VERSION=(\S+)/.exec(read(path.join(CLUSTER, 'minio.Dockerfile')));
  assert.equal(m?.[1], MINIO.goVersion);
  assert.equal(compose.services.minio?.build?.dockerfile, 'infra/cluster/minio.Dockerfile');
});
