/**
 * Finds (or installs) the PyTorch reference for the bench, and runs bench/torch_bench.py with it.
 *
 * Order: $ROBUSTOK_TORCH_PYTHON, then `python3` on PATH, then Debian's /usr/bin/python3. If none has
 * torch and we are root with apt-get, install Debian's `python3-torch` (CPU, OpenBLAS; the PyPI wheel
 * would pull CUDA libraries). The result says which interpreter and torch version were used, or why
 * none was, so a bench report never hides a missing reference.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureOpenblasCore, type OpenblasCore } from './openblas-core';

export interface TorchRef {
  python: string;
  version: string;
  /** How it was obtained: found on this machine, or installed now from Debian. */
  source: 'found' | 'installed (apt-get python3-torch libopenblas0-pthread)';
  /** OpenBLAS's kernel family for this CPU, and our override when it fell back to a generic one. */
  openblas?: OpenblasCore;
}

function torchVersion(python: string): string | undefined {
  const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 120_000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export function findTorch(opts: { install: boolean; log: (l: string) => void }): TorchRef | { error: string } {
  const candidates = [process.env.ROBUSTOK_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  for (const python of candidates) {
    const version = torchVersion(python);
    if (!version) continue;
    const blas = referenceBlas(python);
    if (blas === undefined) return { python, version, source: 'found', openblas: ensureOpenblasCore(python) };
    if (!opts.install) return { error: `${python}'s torch ${version} runs on ${blas}: ${REFERENCE_BLAS_FIX}` };
    break; // Debian's torch without OpenBLAS: the install below adds it
  }
  if (!opts.install) return { error: `no python with torch among ${candidates.join(', ')} (run with --install-torch, or set ROBUSTOK_TORCH_PYTHON)` };
  if (process.getuid?.() !== 0) return { error: 'torch not found and not root: apt-get install python3-torch, or set ROBUSTOK_TORCH_PYTHON' };
  opts.log('torch not found, or on the reference BLAS: installing Debian python3-torch and OpenBLAS (apt-get)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore', env });
  // OpenBLAS replaces Debian's reference BLAS (which made a 2048³ matmul ~50× slower).
  const r = spawnSync('apt-get', ['install', '-y', '-qq', 'python3-torch', 'libopenblas0-pthread'], { stdio: 'ignore', env });
  const version = r.status === 0 ? torchVersion('/usr/bin/python3') : undefined;
  if (!version) return { error: `apt-get install python3-torch failed (exit ${r.status ?? 'signal'})` };
  return {
    python: '/usr/bin/python3',
    version,
    source: 'installed (apt-get python3-torch libopenblas0-pthread)',
    openblas: ensureOpenblasCore('/usr/bin/python3'),
  };
}

const REFERENCE_BLAS_FIX =
  'that is 10–20× slower than an optimised BLAS, so every ratio against it would flatter us. Install OpenBLAS (apt-get install libopenblas0-pthread, or bench with --install-torch), or point ROBUSTOK_TORCH_PYTHON at a torch built with MKL/OpenBLAS';

/**
 * The BLAS library `python`'s torch actually loaded, when it is the netlib reference one (Debian's
 * `python3-torch` is built against the generic `libblas.so.3`, which is the reference implementation
 * until OpenBLAS provides the alternative); undefined when it is an optimised one. Read from the
 * process's own memory map after a matmul, so it names what ran rather than what is installed.
 */
function referenceBlas(python: string): string | undefined {
  const probe = [
    'import torch',
    'torch.ones(64, 64) @ torch.ones(64, 64)',
    "libs = sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower() and '/' in l})",
    "print('\\n'.join(libs))",
  ].join('\n');
  const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return undefined; // no /proc (not Linux): nothing to tell
  const libs = r.stdout.split('\n').filter((l) => l.length > 0);
  // libblas.so.3 from Debian's reference directory serves sgemm even when OpenBLAS is mapped too
  // (pulled in by liblapack): the BLAS interface resolves to the first library that defines it
  const reference = libs.find((l) => /\/blas\/libblas\.so/.test(l));
  return reference === undefined ? undefined : `the netlib reference BLAS (${reference})`;
}

export interface TorchRun {
  torch: string;
  threads: number;
  results: Record<string, number>;
}

/** Runs the torch side of `cases` (see torch_bench.py for the kinds) and returns median ms per case name. */
export function runTorch(ref: TorchRef, cases: object[], threads: number, reps: number): TorchRun {
  const script = path.join(__dirname, 'torch_bench.py');
  const r = spawnSync(ref.python, [script], {
    input: JSON.stringify({ cases, threads, reps }),
    encoding: 'utf8',
    timeout: 30 * 60_000,
    env: { ...process.env, OMP_NUM_THREADS: String(threads) },
  });
  if (r.status !== 0) throw new Error(`torch bench failed (exit ${r.status ?? 'signal'}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as TorchRun;
}
