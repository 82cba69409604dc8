/**
 * The environment of a `command` stage's program: never the worker's whole environment (which
 * holds store credentials and TLS keys), only
 *   1. the allow-list below, taken from the worker's environment where set;
 *   2. `passEnv: [NAME…]` of the stage config: further names taken from the worker's environment;
 *   3. `env: {NAME: value}` of the stage config: fixed values (part of the cache key);
 *   4. the runner's RT_* variables (inputs, outputs, params, workdir, seed, attempt, checkpoints).
 * Later layers win. The runner's own settings (ROBUSTOK_*, TEMPORAL_*, MINIO_ROOT_*) cannot be
 * passed at all: give a stage its own credentials under its own names.
 */
import { isSecretEnv } from '../core/redact';
import { forbiddenEnvName } from './command-config';

/**
 * Passed from the worker when set. Beyond the basics a program needs to run at all (PATH, HOME,
 * locale, time zone, temp dir, user and terminal), the ones a host operator uses to share the
 * machine between processes: which GPUs this worker may use (a worker pinned to GPU 1 must not let
 * its stages take GPU 0) and CPU thread budgets. The active Python/Conda environment's name is
 * passed because PATH already points into it (tools such as pip look for it).
 * Deliberately NOT passed, so a spec states them when it relies on them (via env/passEnv):
 * PYTHONPATH, LD_LIBRARY_PATH, LD_PRELOAD, NODE_OPTIONS (they change which code runs, invisibly to
 * the cache key), proxies (their URLs often carry credentials), cloud and store credentials.
 */
const ALLOWED = new Set([
  'PATH',
  'HOME',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'USER',
  'LOGNAME',
  'SHELL',
  'TERM',
  'CUDA_VISIBLE_DEVICES',
  'NVIDIA_VISIBLE_DEVICES',
  'HIP_VISIBLE_DEVICES',
  'ROCR_VISIBLE_DEVICES',
  'OMP_NUM_THREADS',
  'MKL_NUM_THREADS',
  'OPENBLAS_NUM_THREADS',
  'VIRTUAL_ENV',
  'CONDA_PREFIX',
  'CONDA_DEFAULT_ENV',
]);
const ALLOWED_PREFIXES = ['LC_'];

export function isAllowedByDefault(name: string): boolean {
  return ALLOWED.has(name) || ALLOWED_PREFIXES.some((p) => name.startsWith(p));
}

/** The base environment of a stage program (layers 1–3); the caller adds its RT_* variables. */
export function stageEnv(worker: NodeJS.ProcessEnv, config: { env: Readonly<Record<string, string>>; passEnv?: readonly string[] }): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(worker)) if (v !== undefined && isAllowedByDefault(k)) out[k] = v;
  for (const k of config.passEnv ?? []) {
    const v = worker[k];
    if (v !== undefined && forbiddenEnvName(k) === undefined) out[k] = v;
  }
  return { ...out, ...config.env };
}

/** Values in a stage's environment that are secrets by their names: redacted from anything the stage reports. */
export function stageSecrets(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env)
    .filter(([k, v]) => isSecretEnv(k, v))
    .map(([, v]) => v);
}
