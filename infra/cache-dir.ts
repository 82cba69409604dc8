/** Where provisioned binaries are kept between runs: $ROBUSTOK_CACHE_DIR, else $XDG_CACHE_HOME/robustok, else ~/.cache/robustok. */
import os from 'node:os';
import path from 'node:path';

export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ROBUSTOK_CACHE_DIR) return path.resolve(env.ROBUSTOK_CACHE_DIR);
  const xdg = env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache');
  return path.join(xdg, 'robustok');
}

export function binCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(cacheDir(env), 'bin');
}
