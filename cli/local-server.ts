/**
 * The local servers `robustok server start` keeps up (in the foreground or with --detach): where they
 * are, written to <state dir>/servers/running.json (0600) once both answer and removed when they stop.
 * `run` (and the other commands) with no Temporal address use them when they are up and healthy instead
 * of starting a dev server of their own per call — seconds saved on every short run; with nothing running
 * the embedded default goes on as before. ROBUSTOK_LOCAL_SERVER=off ignores a running one.
 */
import { readFileSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { temporalReady } from '../infra/temporal-server';
import { stateDir } from './state-dir';

export interface LocalServer {
  /** The `robustok server start` process supervising both servers. */
  readonly pid: number;
  readonly address: string;
  readonly namespace: string;
  readonly uiUrl: string | undefined;
  readonly minioEndpoint: string;
  readonly startedAt: string;
}

export function runningFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(stateDir(env), 'servers', 'running.json');
}

export async function writeRunning(s: LocalServer, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await writeFile(runningFile(env), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the note, if it is this process's own (a second start must not erase the first one's). */
export async function removeRunning(pid: number, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (readRunning(env)?.pid === pid) await rm(runningFile(env), { force: true });
}

/** What running.json says, whether or not that process still lives. */
export function readRunning(env: NodeJS.ProcessEnv = process.env): LocalServer | undefined {
  try {
    return JSON.parse(readFileSync(runningFile(env), 'utf8')) as LocalServer;
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    // ESRCH: gone; EPERM: another user's process, so not ours (a recycled pid)
    return false;
  }
}

/**
 * The recorded process, when it is still `robustok server start`: after a reboot or a SIGKILL the pid
 * may belong to something else, which `server stop` must never signal. On Linux its command line says;
 * elsewhere being alive has to do.
 */
export function recordedProcessAlive(s: LocalServer): boolean {
  if (!processAlive(s.pid)) return false;
  try {
    const argv = readFileSync(`/proc/${s.pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('server') && argv.includes('start');
  } catch {
    return process.platform !== 'linux';
  }
}

export async function minioAlive(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/minio/health/live`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/** The local server, when its process lives and Temporal answers (within about a second); else undefined. */
export async function healthyLocalServer(env: NodeJS.ProcessEnv = process.env): Promise<LocalServer | undefined> {
  if (env.ROBUSTOK_LOCAL_SERVER === 'off') return undefined;
  const s = readRunning(env);
  if (s === undefined || !recordedProcessAlive(s)) return undefined;
  let timer: NodeJS.Timeout | undefined;
  const ready = await Promise.race([
    temporalReady(s.address, s.namespace).catch(() => false),
    new Promise<false>((r) => (timer = setTimeout(() => r(false), 1500))),
  ]).finally(() => clearTimeout(timer));
  return ready ? s : undefined;
}
