/** Runs the real `robustok` CLI as a child process against the test servers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { testMinio, testTemporal, tempDir, uniqueBucket } from './servers';

export const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'cli.ts');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** An isolated environment: its own MinIO bucket, queue prefix and state folder on the shared servers. */
export async function cliEnv(name: string): Promise<NodeJS.ProcessEnv> {
  const t = await testTemporal();
  const m = await testMinio();
  return {
    ...process.env,
    TEMPORAL_ADDRESS: t.address,
    TEMPORAL_NAMESPACE: t.namespace,
    ROBUSTOK_S3_ENDPOINT: m.endpoint,
    ROBUSTOK_S3_ACCESS_KEY: m.accessKey,
    ROBUSTOK_S3_SECRET_KEY: m.secretKey,
    ROBUSTOK_STORE: `s3://${uniqueBucket(name)}/runs`,
    ROBUSTOK_QUEUE_PREFIX: `${name}-${randomUUID().slice(0, 6)}-`,
    ROBUSTOK_HOME: await tempDir(`${name}-home`),
  };
}

export function startCli(args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * Runs the CLI to completion. `timeoutMs`: SIGKILL it after that long (a `run` that would wait for a
 * worker forever must fail its test, not hang it); the result then has code null.
 */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv, o: { timeoutMs?: number } = {}): Promise<CliResult> {
  const started = Date.now();
  const child = startCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), o.timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

/** Whether a process with this pid exists: the CLI's own check (signal 0 sends nothing). */
export { processAlive as isAlive } from '../../cli/local-server';

export function parseJson<T>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`CLI printed no JSON (exit ${String(r.code)}):\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** Polls `pred` every 100 ms until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(what: string, pred: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The non-empty lines of a text file, or [] while it does not exist. */
export async function fileLines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
}
