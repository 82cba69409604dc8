/**
 * The native TensorFlow backend on first use, like the servers: when this process is about to run
 * tensor stages, `@tensorflow/tfjs-node` is not installed, and nothing asked for another backend, it
 * runs infra/native-tensorflow.sh once (pip's tensorflow-cpu wheel → the tfjs-node addon, ~1 min and
 * ~250 MB of download the first time; seconds once cached). If that cannot work here (no pip, no
 * compiler, no registry), the run goes on with the wasm backend and says so and how to retry.
 *
 * Opt out with ROBUSTOK_NATIVE_TF=off, or by choosing a backend (ROBUSTOK_BACKEND=wasm|cpu).
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { cacheDir } from './cache-dir';
import { PACKAGE_ROOT } from './package-root';
import { runCommand } from './run-command';

const ROOT = PACKAGE_ROOT;
const SCRIPT = path.join(ROOT, 'infra', 'native-tensorflow.sh');
/** A lock older than this belongs to a setup that died; the build itself takes a few minutes at most. */
const STALE_LOCK_MS = 20 * 60_000;

export type NativeSetup =
  { readonly state: 'present' | 'installed' } | { readonly state: 'skipped'; readonly reason: string } | { readonly state: 'failed'; readonly reason: string };

function nativeInstalled(): boolean {
  try {
    createRequire(path.join(ROOT, 'package.json')).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    // A GPU host built @tensorflow/tfjs-node-gpu (native-tensorflow.sh --gpu): no CPU build needed.
    try {
      createRequire(path.join(ROOT, 'package.json')).resolve('@tensorflow/tfjs-node-gpu');
      return true;
    } catch {
      return false;
    }
  }
}

/** Holds a directory lock so two runs starting together do not build into the same node_modules. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch {
      const st = await stat(lock).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STALE_LOCK_MS) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

export async function ensureNativeBackend(log: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<NativeSetup> {
  const requested = env.ROBUSTOK_BACKEND ?? 'auto';
  if (requested !== 'auto' && requested !== 'tensorflow') return { state: 'skipped', reason: `ROBUSTOK_BACKEND=${requested}` };
  if ((env.ROBUSTOK_NATIVE_TF ?? '').toLowerCase() === 'off') return { state: 'skipped', reason: 'ROBUSTOK_NATIVE_TF=off' };
  if (nativeInstalled()) return { state: 'present' };
  if (!existsSync(SCRIPT)) return { state: 'skipped', reason: `${SCRIPT} is not part of this installation` };
  return withLock(path.join(cacheDir(env), 'native-tf.lock'), async () => {
    if (nativeInstalled()) return { state: 'present' } as const; // another run built it while we waited
    log('native TensorFlow backend not installed: building it from the PyPI tensorflow-cpu wheel (first use only; ROBUSTOK_NATIVE_TF=off skips)…');
    const started = Date.now();
    const r = await runCommand('bash', [SCRIPT], { env, cwd: ROOT, timeoutMs: 30 * 60_000 });
    if (r.code === 0 && nativeInstalled()) {
      log(`native TensorFlow backend ready (${((Date.now() - started) / 1000).toFixed(0)} s)`);
      return { state: 'installed' } as const;
    }
    const last =
      r.output
        .trim()
        .split('\n')
        .filter((l) => l.includes('ERROR') || l.includes('error'))
        .at(-1) ??
      r.output.trim().split('\n').at(-1) ??
      '';
    const reason = `infra/native-tensorflow.sh exited ${String(r.code)}: ${last.slice(0, 300)}`;
    log(`WARNING: ${reason}\n  continuing on the wasm backend (several times slower); retry with \`npm run native-tf\``);
    return { state: 'failed', reason } as const;
  });
}
