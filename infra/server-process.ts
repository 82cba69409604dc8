/**
 * A child server process with its output in a log file, a readiness probe and a clean stop.
 * The log is deleted on a clean stop and kept (its path printed) when start-up fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { PipelineError } from '../core/errors';
import { tiedToParent } from './tied-process';

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly label: string;
  readonly bin: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  readonly logFile: string;
  readonly ready: () => Promise<boolean>;
  readonly timeoutMs: number;
}

export async function startServerProcess(o: StartOptions): Promise<ServerProcess> {
  // The user's alone: server logs can carry addresses, names and errors of a private setup.
  const fd = openSync(o.logFile, 'a', 0o600);
  const [bin, args] = tiedToParent(o.bin, o.args);
  const child = spawn(bin, args, { env: o.env, stdio: ['ignore', fd, fd], detached: false });
  closeSync(fd);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));

  const stop = async (): Promise<void> => {
    if (exited !== undefined || child.exitCode !== null) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };

  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const failed = await Promise.race([spawnError, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
    if (failed !== undefined) throw startFailure(o, `could not spawn ${o.bin}: ${failed.message}`);
    if (exited !== undefined) throw startFailure(o, `it exited with code ${String(exited)}`);
    if (await o.ready().catch(() => false)) return { child, logFile: o.logFile, stop };
    if (Date.now() > deadline) {
      await stop();
      throw startFailure(o, `it was not ready after ${o.timeoutMs / 1000} s`);
    }
  }
}

function startFailure(o: StartOptions, why: string): PipelineError {
  let tail = '';
  try {
    tail = readFileSync(o.logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
  } catch {
    // no log yet
  }
  return new PipelineError('SERVER_START_FAILED', `${o.label} did not start: ${why}. Log kept at ${o.logFile}${tail ? `:\n${tail}` : ''}`);
}
