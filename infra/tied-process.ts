/**
 * Child processes that never outlive us, however we die:
 * - a Linux parent-death signal (util-linux `setpriv --pdeathsig`, which then execs the program with
 *   the same pid): the kernel signals the child when this process dies, SIGKILL included;
 * - stage programs lead their own process group (so a cancel reaches their children); each group
 *   gets a watchdog — a tiny `sh` reading a pipe from us — that kills the whole group when the pipe
 *   closes, i.e. when this process is gone (any platform, grandchildren included);
 * - every live group is also killed when this process exits normally (process.exit, end of loop).
 */
import { spawn, type ChildProcess, type ChildProcessByStdio, type SpawnOptions } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

const SETPRIV = '/usr/bin/setpriv';

/** argv that makes the kernel send `signal` to the program when this process dies. */
export function tiedToParent(bin: string, args: readonly string[], signal = 'TERM'): [string, string[]] {
  if (process.platform !== 'linux' || !existsSync(SETPRIV)) return [bin, [...args]];
  return [SETPRIV, ['--pdeathsig', signal, '--', bin, ...args]];
}

/** Whether `cmd` names an executable (as the shell would find it on PATH). */
function findable(cmd: string, env: NodeJS.ProcessEnv | undefined, cwd: string | undefined): boolean {
  const runnable = (p: string) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return runnable(path.resolve(cwd ?? process.cwd(), cmd));
  return (env?.PATH ?? process.env.PATH ?? '').split(path.delimiter).some((dir) => dir !== '' && runnable(path.join(dir, cmd)));
}

const groups = new Set<number>();
let hooked = false;

function killGroups(): void {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/**
 * A process that kills group `pgid` once its stdin (a pipe from us) reaches end of file: the kernel
 * closes the pipe when this process dies, however it dies. Not part of the group it guards.
 */
function groupWatchdog(pgid: number): ChildProcess | undefined {
  try {
    const dog = spawn('/bin/sh', ['-c', 'read _; kill -KILL "-$0" 2>/dev/null', String(pgid)], { stdio: ['pipe', 'ignore', 'ignore'] });
    dog.on('error', () => undefined);
    dog.stdin?.on('error', () => undefined);
    // Neither the watchdog nor its pipe may keep this process alive.
    dog.unref();
    (dog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return dog;
  } catch {
    return undefined;
  }
}

/**
 * Spawns a program as the leader of its own process group, tied to this process. A program that
 * cannot be found is spawned plainly, so the caller still gets spawn's ENOENT error.
 */
export function spawnTiedGroup(
  cmd: string,
  args: readonly string[],
  opts: Omit<SpawnOptions, 'stdio' | 'detached'>,
): ChildProcessByStdio<null, Readable, Readable> {
  const [bin, argv] = findable(cmd, opts.env, typeof opts.cwd === 'string' ? opts.cwd : undefined) ? tiedToParent(cmd, args, 'KILL') : [cmd, [...args]];
  const child = spawn(bin, argv, { ...opts, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid !== undefined) {
    groups.add(pid);
    const watchdog = groupWatchdog(pid);
    child.once('exit', () => {
      groups.delete(pid);
      watchdog?.kill('SIGKILL');
    });
  }
  if (!hooked) {
    hooked = true;
    process.on('exit', killGroups);
  }
  return child;
}
