/**
 * Backend selection (ARCHITECTURE §5): tfjs-node-gpu › tfjs-node › wasm › cpu.
 *
 * The choice comes from `opts.backend`, else ROBUSTOK_BACKEND, else `auto`. The native packages are
 * optional: they are loaded with a dynamic `require` in try/catch, so a host without them falls through
 * to wasm. Asking for one explicitly and not getting it is an error (BACKEND_UNAVAILABLE), never a
 * silent downgrade: a run that says `tensorflow` must not train at wasm speed.
 *
 * The result is a small JSON-able record (`backendInfo()`) that workers log at start and stages copy
 * into every manifest, so a timing or a metric can always be traced to the backend that produced it.
 */
import * as tf from '@tensorflow/tfjs';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { PipelineError, errorMessage } from '../core/errors';
import { recordBackend } from './backend-state';
import { registerWasmTrainingKernels } from './wasm-kernels/register';
import { loadNativeOps } from './native-ops';

export const BACKEND_CHOICES = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/** What `initBackend` settled on. Plain JSON: it goes into manifests and logs. */
export interface BackendInfo {
  /** The tfjs backend name in use: 'tensorflow' (tfjs-node / tfjs-node-gpu), 'wasm' or 'cpu'. */
  backend: 'tensorflow' | 'wasm' | 'cpu';
  /** What was asked for ('auto' when nothing was). */
  requested: BackendChoice;
  /** The npm package that provides the backend, with its version. */
  package: string;
  packageVersion: string;
  tfjsVersion: string;
  /** The GPU tfjs-node-gpu computes on, with its model (null on CPU backends and when TensorFlow found no GPU). */
  gpu: string | null;
  /** wasm only: SIMD and thread count of the wasm module. */
  simd?: boolean;
  threads?: number;
  /** native only: TensorFlow's intra-op and inter-op thread pool sizes (set explicitly, see nativeThreads). */
  intraOpThreads?: number;
  interOpThreads?: number;
  /** native only: our op library (compute/native-ops.ts): the variant loaded (`avx2`, `avx`) or why none was. */
  nativeOps?: string;
  /** wasm only: whether our training kernels (compute/wasm-kernels) are registered. */
  trainingKernels?: boolean;
  /** Why `auto` skipped the earlier candidates (missing package, failed load), in order. */
  skipped: string[];
  cpu: { model: string; cores: number };
}

export interface InitBackendOptions {
  /** auto | tensorflow | wasm | cpu; default: ROBUSTOK_BACKEND, else auto. */
  backend?: string;
  /** Where to log the chosen backend; default console.log. Pass null to stay quiet. */
  log?: ((line: string) => void) | null;
  /** Directory holding the tfjs-backend-wasm .wasm files; default: the installed package's dist/. */
  wasmDir?: string;
  /** Native packages tried, in order, by auto/tensorflow; tests pass absent names to exercise the fallback. */
  nativePackages?: readonly string[];
}

const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

let current: BackendInfo | undefined;
let pending: Promise<BackendInfo> | undefined;

export function parseBackendChoice(value: string | undefined): BackendChoice {
  const v = (value ?? 'auto').trim().toLowerCase();
  if (v === '') return 'auto';
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new PipelineError('BACKEND_UNAVAILABLE', `unknown backend "${value}": use one of ${BACKEND_CHOICES.join(', ')} (--backend or ROBUSTOK_BACKEND)`);
}

/**
 * Chooses, initialises and records the tfjs backend. Idempotent: a second call with the same request
 * returns the first result (stages may call it freely after the worker did); a different request
 * selects again.
 */
export async function initBackend(opts: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = parseBackendChoice(opts.backend ?? process.env.ROBUSTOK_BACKEND);
  if (pending) await pending.catch(() => undefined);
  if (current && requested === current.requested && tf.getBackend() === current.backend) {
    return current;
  }
  pending = select(requested, opts);
  try {
    current = await pending;
    recordBackend(current);
  } finally {
    pending = undefined;
  }
  const log = opts.log === undefined ? (l: string) => console.log(l) : opts.log;
  log?.(describeBackend(current));
  return current;
}

/** Whether initBackend() has completed in this process (manifests record a backend only then). */
export function isBackendInitialised(): boolean {
  return current !== undefined;
}

/** The record of the backend in use; throws if `initBackend` has not run (a bug in the caller). */
export function backendInfo(): BackendInfo {
  if (!current) {
    throw new PipelineError('BACKEND_UNAVAILABLE', 'backendInfo() called before initBackend(): initialise compute at worker start');
  }
  return current;
}

/**
 * TensorFlow sizes its thread pools once, when the eager context is created, from TF_NUM_INTRAOP_THREADS
 * / TF_NUM_INTEROP_THREADS (tfjs-node exposes no other setting). We set both before loading the addon
 * instead of leaving TensorFlow's defaults, so the count is explicit, recorded in every manifest and
 * comparable with the PyTorch reference: ROBUSTOK_THREADS (all cores when unset); an explicit
 * TF_NUM_* variable wins.
 */
export function nativeThreads(env: NodeJS.ProcessEnv): { intra: number; inter: number } {
  const want = Number(env.ROBUSTOK_THREADS);
  const n = Number.isInteger(want) && want > 0 ? want : os.cpus().length;
  env.TF_NUM_INTRAOP_THREADS ??= String(n);
  env.TF_NUM_INTEROP_THREADS ??= String(n);
  // each session's kernels get an intra-op pool of their own, sized by that session's config or else
  // by TF_NUM_INTRAOP_THREADS, instead of all sharing the first one's: the RAR decode step runs its tiny
  // kernels on one thread (models/rar-decoder-graph.ts) while training graphs keep all n. Sessions run
  // one at a time here, so the pools do not compete; an idle pool's threads sleep.
  env.TF_OVERRIDE_GLOBAL_THREADPOOL ??= '1';
  return { intra: Number(env.TF_NUM_INTRAOP_THREADS), inter: Number(env.TF_NUM_INTEROP_THREADS) };
}

/** One log line: `compute backend: wasm (@tensorflow/tfjs-backend-wasm 4.22.0, simd, 1 thread)`. */
export function describeBackend(info: BackendInfo): string {
  const extras: string[] = [`${info.package} ${info.packageVersion}`];
  if (info.gpu) extras.push(`gpu ${info.gpu}`);
  if (info.intraOpThreads !== undefined) extras.push(`${info.intraOpThreads} intra-op / ${info.interOpThreads ?? '?'} inter-op threads`);
  if (info.nativeOps !== undefined) extras.push(`ops ${info.nativeOps}`);
  if (info.backend === 'wasm') {
    extras.push(info.simd ? 'simd' : 'no simd', `${info.threads ?? 1} thread(s)`);
    if (info.trainingKernels) extras.push('training kernels');
  }
  const skipped = info.skipped.length > 0 ? `; skipped: ${info.skipped.join('; ')}` : '';
  return `compute backend: ${info.backend} (${extras.join(', ')})${skipped}`;
}

const requireHere = createRequire(__filename);

function packageVersion(name: string): string {
  try {
    const pkg = requireHere(`${name}/package.json`) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function baseInfo(backend: BackendInfo['backend'], requested: BackendChoice, pkg: string, skipped: string[]): BackendInfo {
  const cpus = os.cpus();
  return {
    backend,
    requested,
    package: pkg,
    packageVersion: packageVersion(pkg),
    tfjsVersion: tf.version.tfjs,
    gpu: null,
    skipped,
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length },
  };
}

async function select(requested: BackendChoice, opts: InitBackendOptions): Promise<BackendInfo> {
  const skipped: string[] = [];
  if (requested === 'auto' || requested === 'tensorflow') {
    for (const pkg of opts.nativePackages ?? NATIVE_PACKAGES) {
      const r = await tryNative(pkg, requested);
      if ('info' in r) return { ...r.info, skipped };
      skipped.push(`${pkg}: ${r.reason}`);
    }
    if (requested === 'tensorflow') {
      throw new PipelineError(
        'BACKEND_UNAVAILABLE',
        `backend "tensorflow" requested but neither native package loads (${skipped.join('; ')}). ` +
          'Install @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA), or use --backend wasm',
      );
    }
  }
  if (requested === 'auto' || requested === 'wasm') {
    try {
      return { ...(await initWasm(requested, opts.wasmDir)), skipped };
    } catch (e) {
      if (requested === 'wasm') {
        throw new PipelineError('BACKEND_UNAVAILABLE', `wasm backend failed to start: ${errorMessage(e)}`, { cause: e });
      }
      skipped.push(`@tensorflow/tfjs-backend-wasm: ${errorMessage(e)}`);
    }
  }
  if (!(await tf.setBackend('cpu'))) {
    throw new PipelineError('BACKEND_UNAVAILABLE', `cpu backend failed to start (skipped: ${skipped.join('; ')})`);
  }
  await tf.ready();
  return baseInfo('cpu', requested, '@tensorflow/tfjs-backend-cpu', skipped);
}

/**
 * Loads a native binding package. Both register a backend named 'tensorflow'; the GPU one logs its
 * device through TensorFlow's own logging, so we read what tfjs-node exposes and fall back to CUDA's
 * env var for the record.
 */
async function tryNative(pkg: string, requested: BackendChoice): Promise<{ info: BackendInfo } | { reason: string }> {
  try {
    requireHere.resolve(pkg);
  } catch {
    return { reason: 'not installed' };
  }
  // TensorFlow's C++ INFO lines (CPU feature notes) would land in the user's terminal on every
  // worker start; warnings and errors still print. An explicit TF_CPP_MIN_LOG_LEVEL wins.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '1';
  const threads = nativeThreads(process.env);
  try {
    requireHere(pkg);
  } catch (e) {
    return { reason: `failed to load: ${errorMessage(e).split('\n')[0] ?? ''}` };
  }
  try {
    if (!(await tf.setBackend('tensorflow'))) return { reason: 'setBackend("tensorflow") returned false' };
    await tf.ready();
  } catch (e) {
    return { reason: `failed to initialise: ${errorMessage(e)}` };
  }
  const info = baseInfo('tensorflow', requested, pkg, []);
  info.intraOpThreads = threads.intra;
  info.interOpThreads = threads.inter;
  // after tfjs-node: the op library links against the libtensorflow_framework the binding loaded
  if (pkg.endsWith('-gpu')) info.gpu = gpuDevice(tf.backend() as { isUsingGpuDevice?: boolean }, process.env);
  else info.nativeOps = loadNativeOps().detail;
  return { info };
}

/**
 * The GPU the native backend computes on, or null: tfjs-node-gpu asks TensorFlow's device list at
 * start and runs on the CPU when it has no GPU (no device, no driver, CUDA libraries not found).
 * The models come from the NVIDIA driver's /proc entries, so a manifest names the card.
 */
export function gpuDevice(backend: { isUsingGpuDevice?: boolean }, env: NodeJS.ProcessEnv, procDir = '/proc/driver/nvidia/gpus'): string | null {
  if (backend.isUsingGpuDevice !== true) return null;
  const models: string[] = [];
  try {
    for (const bus of readdirSync(procDir).sort()) {
      const m = /^Model:\s*(.+)$/m.exec(readFileSync(path.join(procDir, bus, 'information'), 'utf8'));
      if (m?.[1] !== undefined) models.push(m[1].trim());
    }
  } catch {
    // No driver entries visible (some container runtimes): the device index is all we know.
  }
  const visible = env.CUDA_VISIBLE_DEVICES === undefined ? '' : ` CUDA_VISIBLE_DEVICES=${env.CUDA_VISIBLE_DEVICES}`;
  return `cuda${visible}${models.length > 0 ? ` (${models.join(', ')})` : ''}`;
}

export function defaultWasmDir(): string {
  // The package's main entry lives in dist/, next to the .wasm binaries.
  return path.dirname(requireHere.resolve('@tensorflow/tfjs-backend-wasm'));
}

async function initWasm(requested: BackendChoice, wasmDir?: string): Promise<BackendInfo> {
  // setWasmPaths takes a prefix; in Node it must end with a separator to be joined with the file name.
  const dir = wasmDir ?? defaultWasmDir();
  setWasmPaths(dir.endsWith(path.sep) ? dir : dir + path.sep);
  registerWasmTrainingKernels();
  if (!(await tf.setBackend('wasm'))) throw new Error('setBackend("wasm") returned false');
  await tf.ready();
  const info = baseInfo('wasm', requested, '@tensorflow/tfjs-backend-wasm', []);
  info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  info.threads = getThreadsCount();
  info.trainingKernels = true;
  return info;
}
