/** The project-state folder of the embedded default: $ROBUSTOK_HOME, else ./.robustok. */
import path from 'node:path';

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.ROBUSTOK_HOME ?? '.robustok');
}

export function defaultStoreUri(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROBUSTOK_STORE ?? `file:${path.join(stateDir(env), 'store')}`;
}
