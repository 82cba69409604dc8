/** What `robustok server start` remembers between starts (ports, generated MinIO credentials), 0600. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { stateDir } from './state-dir';

/** What `server start` remembers between starts. */
export interface ServerSettings {
  temporalPort?: number;
  uiPort?: number;
  minioPort?: number;
  accessKey?: string;
  secretKey?: string;
}

export function serverSettingsFile(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(stateDir(env), 'servers', 'servers.json');
}

/** The saved settings, or {} before a first start. */
export async function readServerSettings(env: NodeJS.ProcessEnv = process.env): Promise<ServerSettings> {
  try {
    return JSON.parse(await readFile(serverSettingsFile(env), 'utf8')) as ServerSettings;
  } catch {
    return {};
  }
}
