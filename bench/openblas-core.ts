/**
 * OpenBLAS picks its kernels by CPU model at load time. Debian's 0.3.21 does not know newer Xeons
 * (this machine's, with AVX-512 FP16) and falls back to "Prescott" SSE3 kernels: PyTorch's and NumPy's
 * single-thread sgemm then run at ~12 GFLOP/s instead of ~115, and every ratio against them flatters
 * us. When the detected core is such a fallback, we set OPENBLAS_CORETYPE to the newest family the
 * CPU's flags support, in this process's environment so every Python child (torch side, NumPy side)
 * inherits it, and say so in the bench output.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** OpenBLAS core names that mean "model not recognised" on an x86-64 CPU with AVX2 or better. */
const FALLBACK_CORES = new Set(['prescott', 'core2', 'nehalem', 'katmai', 'northwood', 'atom', 'banias']);

export interface OpenblasCore {
  /** What OpenBLAS chose by itself (undefined: no OpenBLAS loaded, or it printed nothing). */
  detected: string | undefined;
  /** What the bench runs with: the detected core, or the override it set. */
  used: string | undefined;
  /** Set when we overrode a fallback detection. */
  override?: string;
}

function detectedCore(python: string, env: NodeJS.ProcessEnv): string | undefined {
  // numpy and torch both load the system libblas.so.3; importing either initialises OpenBLAS
  const probe = 'import importlib\nfor m in ("numpy", "torch"):\n    try:\n        importlib.import_module(m); break\n    except ImportError:\n        pass\n';
  const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 120_000, env: { ...env, OPENBLAS_VERBOSE: '2' } });
  return /Core:\s*(\S+)/.exec(`${r.stdout}\n${r.stderr}`)?.[1];
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return new Set((line ?? '').split(':')[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/**
 * Checks what OpenBLAS detects under `python` and, when it is a fallback on a CPU that supports better
 * kernels, sets process.env.OPENBLAS_CORETYPE (unless the user already set it). Idempotent.
 */
export function ensureOpenblasCore(python: string): OpenblasCore {
  const preset = process.env.OPENBLAS_CORETYPE;
  if (preset) return { detected: undefined, used: preset };
  const detected = detectedCore(python, process.env);
  if (detected === undefined || !FALLBACK_CORES.has(detected.toLowerCase())) return { detected, used: detected };
  const flags = cpuFlags();
  const override = flags.has('avx512f') && flags.has('avx512bw') ? 'SkylakeX' : flags.has('avx2') && flags.has('fma') ? 'Haswell' : undefined;
  if (override === undefined) return { detected, used: detected };
  process.env.OPENBLAS_CORETYPE = override;
  return { detected, used: override, override };
}
