/**
 * Installs the Temporal worker runtime once per process, before any NativeConnection exists.
 * Worker state chatter stays below WARN; ROBUSTOK_LOG_LEVEL (TRACE|DEBUG|INFO|WARN|ERROR) overrides.
 */
import { DefaultLogger, Runtime, type LogEntry } from '@temporalio/worker';
import { redact } from '../core/redact';

let installed = false;

/** Expected by design: stage-queue workers host activities only (cli/worker.ts). */
const EXPECTED = ['No workflows registered, not polling for workflow tasks'];

function print(entry: LogEntry): void {
  if (EXPECTED.includes(entry.message)) return;
  const meta = entry.meta === undefined || Object.keys(entry.meta).length === 0 ? '' : ` ${JSON.stringify(entry.meta)}`;
  // Worker log lines carry activity failures and stage messages: no secret may reach the terminal.
  console.error(redact(`${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} [${entry.level}] ${entry.message}${meta}`));
}

export function installRuntime(env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = true;
  const level = (env.ROBUSTOK_LOG_LEVEL ?? 'WARN').toUpperCase() as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  Runtime.install({ logger: new DefaultLogger(level, print) });
}
