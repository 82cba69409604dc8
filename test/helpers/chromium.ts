/**
 * Headless Chromium for page tests, driven through its command line only (no CDP client):
 * `--dump-dom` prints the DOM after the load event (a test-only probe script can write what it
 * measured into an attribute), `--screenshot` renders a PNG. Network is cut with a resolver rule,
 * so a page that loads fully loads without it. Debian's package: `apt-get install -y chromium`.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CHROMIUM_BIN !== undefined && existsSync(env.CHROMIUM_BIN)) return env.CHROMIUM_BIN;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
      const p = path.join(dir, name);
      if (dir !== '' && existsSync(p)) return p;
    }
  }
  return undefined;
}

async function chromium(bin: string, args: readonly string[]): Promise<string> {
  const profile = await mkdtemp(path.join(os.tmpdir(), 'chromium-profile-'));
  try {
    return await new Promise((resolve, reject) => {
      execFile(
        bin,
        [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--no-first-run',
          '--hide-scrollbars',
          `--user-data-dir=${profile}`,
          '--host-resolver-rules=MAP * ~NOTFOUND',
          ...args,
        ],
        { timeout: 60_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => (err ? reject(new Error(`${bin} ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}

/** The page's DOM after load (scripts run, images decoded within the virtual-time budget). */
export function dumpDom(bin: string, file: string): Promise<string> {
  return chromium(bin, ['--virtual-time-budget=5000', '--dump-dom', pathToFileURL(file).href]);
}

export async function screenshot(bin: string, file: string, png: string, size = { width: 1280, height: 2400 }): Promise<void> {
  await chromium(bin, ['--virtual-time-budget=5000', `--window-size=${size.width},${size.height}`, `--screenshot=${png}`, pathToFileURL(file).href]);
}
