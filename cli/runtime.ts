/**
 * Installs the Temporal worker runtime once per process, before any NativeConnection exists.
 * Worker state chatter stays below WARN; ROBUSTOK_LOG_LEVEL (TRACE|DEBUG|INFO|WARN|ERROR) overrides.
 */
import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

export function installRuntime(env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = true;
  const level = (env.ROBUSTOK_LOG_LEVEL ?? 'WARN').toUpperCase() as 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  Runtime.install({ logger: new DefaultLogger(level) });
}
