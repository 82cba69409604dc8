/**
 * The test command (`npm test`): provisions the Temporal CLI and MinIO, starts both on free
 * loopback ports, runs every test/**\/*.test.ts under node's test runner with the servers'
 * addresses in the environment, then stops them. Servers that cannot start fail the run.
 *
 *   npm test                       # everything
 *   npm test -- test/unit/core     # only files under that path
 *
 * TEMPORAL_ADDRESS / ROBUSTOK_S3_ENDPOINT (+ keys) already set ⇒ those servers are used instead.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startMinioServer, type MinioServer } from '../infra/minio-server';
import { startTemporalDevServer, type TemporalDevServer } from '../infra/temporal-server';

async function findTests(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory() && ent.name !== 'fixtures') out.push(...(await findTests(p)));
    else if (ent.isFile() && ent.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

async function main(): Promise<number> {
  const root = path.resolve(__dirname, '..');
  const filters = process.argv
    .slice(2)
    .filter((a) => a !== '--')
    .map((f) => path.resolve(f));
  const files = (await findTests(path.join(root, 'test'))).filter((f) => filters.length === 0 || filters.some((x) => f.startsWith(x)));
  if (files.length === 0) {
    console.error(`no test files match ${filters.join(' ')}`);
    return 1;
  }
  const stateDir = await mkdtemp(path.join(os.tmpdir(), 'robustok-test-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ROBUSTOK_TEST_STATE: stateDir };
  let temporal: TemporalDevServer | undefined;
  let minio: MinioServer | undefined;
  const log = (l: string) => console.log(l);
  try {
    if (!env.TEMPORAL_ADDRESS) {
      temporal = await startTemporalDevServer({ dataDir: path.join(stateDir, 'temporal'), log });
      env.TEMPORAL_ADDRESS = temporal.address;
      env.TEMPORAL_NAMESPACE = temporal.namespace;
      console.log(
        `temporal: ${temporal.binary.version} from ${temporal.binary.source}${temporal.binary.origin ? ` (built by ${temporal.binary.origin})` : ''} at ${temporal.address}`,
      );
    }
    if (!env.ROBUSTOK_S3_ENDPOINT) {
      minio = await startMinioServer({ dataDir: path.join(stateDir, 'minio'), log });
      env.ROBUSTOK_S3_ENDPOINT = minio.endpoint;
      env.ROBUSTOK_S3_ACCESS_KEY = minio.accessKey;
      env.ROBUSTOK_S3_SECRET_KEY = minio.secretKey;
      console.log(
        `minio: ${minio.binary.version} from ${minio.binary.source}${minio.binary.origin ? ` (built by ${minio.binary.origin})` : ''} at ${minio.endpoint}`,
      );
    }
  } catch (e) {
    console.error(`test servers could not be started, so the integration tests cannot run:\n${e instanceof Error ? e.message : String(e)}`);
    await Promise.all([temporal?.stop(), minio?.stop()]);
    return 1;
  }
  const concurrency = process.env.ROBUSTOK_TEST_CONCURRENCY ?? '2';
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files], {
      env,
      stdio: 'inherit',
      cwd: root,
    });
    child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
  });
  await Promise.all([temporal?.stop(), minio?.stop()]);
  if (code === 0) await rm(stateDir, { recursive: true, force: true });
  else console.error(`server logs kept in ${stateDir}`);
  return code;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
