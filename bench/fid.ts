/**
 * FID benchmark, one run on this machine, JSON on stdout:
 *   1. Fréchet distance at d = 2048 (ours: Cholesky + symmetric eigenvalues in wasm, float64)
 *      against the ADM reference (scipy.linalg.sqrtm) and an eigh-based NumPy variant, on the same
 *      statistics, with the relative difference of the values; the eigh route runs again with
 *      OPENBLAS_NUM_THREADS=1 for the per-core figure (ours runs on the threads kernelThreads picks:
 *      two when a core is free; bench/frechet-threads.ts compares 1 and 2 threads interleaved);
 *   2. Inception feature extraction, images/s, tfjs (backend chosen by compute/backend.ts) against
 *      PyTorch CPU on the same weights (bench/fid_torch_inception.py), plus pool_3 parity.
 * Both wall and CPU seconds are reported: the machine is shared, and CPU time is what the code costs.
 *
 *   npx tsx bench/fid.ts [--weights fid-inception.safetensors] [--skip-features] [--skip-frechet]
 * The tfjs backend follows compute/backend.ts (ROBUSTOK_BACKEND=wasm|cpu|tensorflow to force one).
 * Env: FID_BENCH_PYTHON (numpy+scipy, default python3), FID_BENCH_TORCH_PYTHON (torch; default the
 * first of python3, /usr/bin/python3 that imports torch).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendInfo, initBackend } from '../compute/backend';
import { writeSafetensors } from '../compute/safetensors';
import { encodeNpy, decodeNpy } from '../data/npy';
import { encodeNpz } from '../data/npz';
import { frechetDistance } from '../metrics/frechet';
import { kernelThreadState } from '../metrics/frechet-wasm';
import { FidInception, randomInceptionTensors } from '../models/inception';
import { loadInceptionWeights, weightEntries } from '../models/inception-weights';
import { ensureOpenblasCore } from './openblas-core';
import { syntheticStats } from './synthetic-stats';

function timed<T>(fn: () => T): { value: T; wall_s: number; cpu_s: number } {
  const c = process.cpuUsage();
  const t = process.hrtime.bigint();
  const value = fn();
  const wall = Number(process.hrtime.bigint() - t) / 1e9;
  const cu = process.cpuUsage(c);
  return { value, wall_s: wall, cpu_s: (cu.user + cu.system) / 1e6 };
}

function findPython(candidates: string[], probe: string): string | undefined {
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', probe], { stdio: 'ignore' });
    if (r.status === 0) return c;
  }
  return undefined;
}

async function benchFrechet(dir: string) {
  const d = 2048;
  const a = syntheticStats(d, 3000, 1);
  const b = syntheticStats(d, 3000, 2);
  const runs = [timed(() => frechetDistance(a, b)), timed(() => frechetDistance(a, b))];
  const best = runs.reduce((p, q) => (q.cpu_s < p.cpu_s ? q : p));
  const threads = kernelThreadState().threads;
  const out: Record<string, unknown> = {
    d,
    ours: { fid: best.value.value, method: best.value.method, threads, wall_s: runs.map((r) => r.wall_s), cpu_s: runs.map((r) => r.cpu_s) },
  };
  const py = process.env.FID_BENCH_PYTHON ?? findPython(['python3'], 'import scipy');
  if (!py) return { ...out, scipy: 'not available (pip install numpy scipy)' };
  const file = path.join(dir, 'stats.npz');
  await writeFile(
    file,
    encodeNpz({
      mu1: { data: a.mu, shape: [d] },
      sigma1: { data: a.sigma, shape: [d, d] },
      mu2: { data: b.mu, shape: [d] },
      sigma2: { data: b.sigma, shape: [d, d] },
    }),
  );
  // A NumPy whose OpenBLAS fell back to generic kernels would flatter us: use the CPU's own.
  const openblas = ensureOpenblasCore(py);
  const script = path.join(__dirname, 'fid_scipy.py');
  const ref = JSON.parse(execFileSync(py, [script, file], { encoding: 'utf8', maxBuffer: 1 << 20 })) as {
    adm_sqrtm: { fid: number; wall_s: number; cpu_s: number };
    numpy_eigh: { fid: number };
  };
  // NumPy's eigh route on one thread too, for the per-core figure.
  const oneThread = JSON.parse(
    execFileSync(py, [script, file, '--eigh-only'], { encoding: 'utf8', maxBuffer: 1 << 20, env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } }),
  ) as { numpy_eigh: unknown };
  return {
    ...out,
    openblas_core: openblas,
    reference: ref,
    reference_one_thread: oneThread,
    relative_difference_vs_adm: Math.abs(best.value.value - ref.adm_sqrtm.fid) / Math.abs(ref.adm_sqrtm.fid),
    relative_difference_vs_eigh: Math.abs(best.value.value - ref.numpy_eigh.fid) / Math.abs(ref.numpy_eigh.fid),
  };
}

async function benchFeatures(dir: string, weightsPath: string | undefined) {
  await initBackend({ log: null });
  const weightsFile = weightsPath ?? path.join(dir, 'random-inception.safetensors');
  if (!weightsPath) await writeSafetensors(weightsFile, weightEntries(randomInceptionTensors(1)));
  const net = FidInception.fromWeights(await loadInceptionWeights(weightsFile));
  const batch = 16;
  const size = 256;
  const total = 32;
  const x = tf.randomUniform<tf.Rank.R4>([batch, size, size, 3], 0, 256, 'int32');
  const run = async () => {
    const r = net.forward(x);
    await r.pool.data();
    tf.dispose([r.pool, r.spatial, r.logits]);
  };
  await run(); // warm-up (kernel selection, allocations)
  const c = process.cpuUsage();
  const t = Date.now();
  for (let done = 0; done < total; done += batch) await run();
  const wall = (Date.now() - t) / 1000;
  const cu = process.cpuUsage(c);
  const ours = {
    backend: backendInfo().backend,
    package: backendInfo().package,
    images: total,
    batch,
    size,
    wall_s: wall,
    cpu_s: (cu.user + cu.system) / 1e6,
    images_per_s: total / wall,
  };
  x.dispose();

  const torchPy = process.env.FID_BENCH_TORCH_PYTHON ?? findPython(['python3', '/usr/bin/python3'], 'import torch, numpy');
  if (!torchPy) return { ours, weights: net.weightsDigest, pytorch: 'not available (torch not importable by python3 or /usr/bin/python3)' };
  // Parity on 299×299 inputs (no resize on either side: only the network is compared).
  const n = 4;
  const pix = Uint8Array.from({ length: n * 299 * 299 * 3 }, (_, i) => (i * 2654435761) >>> 24);
  const imgFile = path.join(dir, 'imgs.npy');
  const outFile = path.join(dir, 'torch-pool.npy');
  await writeFile(imgFile, encodeNpy(pix, [n, 299, 299, 3]));
  const res = JSON.parse(
    execFileSync(
      torchPy,
      [
        path.join(__dirname, 'fid_torch_inception.py'),
        weightsFile,
        imgFile,
        outFile,
        '--bench',
        String(total),
        '--size',
        String(size),
        '--batch',
        String(batch),
      ],
      { encoding: 'utf8' },
    ),
  ) as Record<string, number>;
  const theirs = decodeNpy(await readFile(outFile), outFile).data;
  const img = tf.tensor4d(pix, [n, 299, 299, 3], 'int32');
  const r = net.forward(img);
  const mine = await r.pool.data();
  tf.dispose([img, r.pool, r.spatial, r.logits]);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let i = 0; i < mine.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(mine[i]! - theirs[i]!));
    maxAbs = Math.max(maxAbs, Math.abs(theirs[i]!));
  }
  net.dispose();
  return {
    weights: net.weightsDigest,
    ours,
    pytorch: res,
    ratio_ours_over_pytorch: ours.images_per_s / res.images_per_s!,
    pool3_parity: { max_abs_diff: maxDiff, max_abs: maxAbs },
  };
}

async function main() {
  const args = process.argv.slice(2);
  const wi = args.indexOf('--weights');
  const weights = wi >= 0 ? args[wi + 1] : undefined;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'fid-bench-'));
  const result: Record<string, unknown> = { machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, loadavg: os.loadavg() } };
  if (!args.includes('--skip-frechet')) result.frechet = await benchFrechet(dir);
  if (!args.includes('--skip-features')) result.features = await benchFeatures(dir, weights);
  result.loadavg_after = os.loadavg();
  console.log(JSON.stringify(result, null, 2));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
