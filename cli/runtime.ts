/**
 * Installs the Temporal worker runtime once per process, before any NativeConnection exists.
 * Worker state chatter stays below WARN; ROBUSTOK_LOG_LEVEL (TRACE|DEBUG|INFO|WARN|ERROR) overrides.
 *
 * Where the lines go: the worker's log file (<state dir>/logs/worker.log, private to the user) unless
 * `--verbose` (ROBUSTOK_VERBOSE=1) or ROBUSTOK_LOG_LEVEL asks for them on the terminal. A failed
 * attempt is logged by the SDK as a JSON line with its task token and stack: noise in the terminal of
 * someone watching a run, whose progress lines already say which stage failed and why.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { redact } from '../core/redact';
import { stateDir } from './state-dir';

let installed = false;
let logFile: string | undefined;
let wroteToFile = false;

/** Expected by design: stage-queue workers host activities only (cli/worker.ts). */
const EXPECTED = ['No workflows registered, not polling for workflow tasks'];

function line(entry: LogEntry): string {
  const meta = entry.meta === undefined || Object.keys(entry.meta).length === 0 ? '' : ` ${JSON.stringify(entry.meta)}`;
  // Worker log lines carry activity failures and stage messages: no secret may reach the terminal or the file.
  return redact(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta}`);
}

function print(entry: LogEntry): void {
  if (EXPECTED.includes(entry.message)) return;
  if (logFile === undefined) {
    console.error(line(entry));
    return;
  }
  try {
    if (!wroteToFile) mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o700 });
    appendFileSync(logFile, `${line(entry)}\n`, { mode: 0o600 });
    wroteToFile = true;
  } catch {
    // An unwritable log must not take the worker down: fall back to the terminal.
    logFile = undefined;
    console.error(line(entry));
  }
}

/** Worker log lines go to the terminal (rather than a file) with --verbose or an explicit ROBUSTOK_LOG_LEVEL. */
export function logsToTerminal(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ROBUSTOK_VERBOSE === '1' || env.ROBUSTOK_LOG_LEVEL !== undefined;
}

/** The worker log file, once something was written to it (for "details in …" hints). */
export function workerLogFile(): string | undefined {
  return wroteToFile ? logFile : undefined;
}

export function installRuntime(env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = true;
  logFile = logsToTerminal(env) ? undefined : path.join(stateDir(env), 'logs', 'worker.log');
  const level = (env.ROBUSTOK_LOG_LEVEL ?? 'WARN').toUpperCase() as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  // No signal handling by the SDK (by default it shuts every worker down on SIGINT): `run` decides what
  // Ctrl-C means (cli/interrupt.ts) and `robustok worker` shuts down gracefully itself.
  // Core's own (Rust) log lines — connection retries while a server restarts, among others — would
  // otherwise go straight to the terminal: forward them through the same logger.
  Runtime.install({
    logger: new DefaultLogger(level, print),
    shutdownSignals: [],
    telemetryOptions: { logging: { filter: { core: level, other: 'ERROR' }, forward: {} } },
  });
}
