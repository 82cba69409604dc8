/**
 * What this host offers a stage (core/resources.ts): GPUs, memory and CPUs as a worker here can use
 * them, so a container limited to 8 GiB of a 256 GiB machine advertises 8 GiB. `robustok worker
 * --resources gpus=2,memory=64GiB` overrides any of them (detection cannot see every setup).
 */
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { PipelineError } from '../core/errors';
import { parseOfferOverrides, type ResourceOffer } from '../core/resources';

export interface HostProbe {
  readonly env: NodeJS.ProcessEnv;
  /** NVIDIA's driver lists one folder per GPU here (the same entries compute/backend.ts names the card from). */
  readonly nvidiaProcDir: string;
  /** cgroup v2 mount (memory.max, cpu.max) and v1 memory limit. */
  readonly cgroupDir: string;
  readonly totalMemory: number;
  readonly cpus: number;
  /** The tensor backend's GPU (BackendInfo.gpu), when one is initialised: counts as one GPU even where /proc is hidden. */
  readonly backendGpu?: string | null;
}

export function defaultProbe(backendGpu?: string | null): HostProbe {
  return {
    env: process.env,
    nvidiaProcDir: '/proc/driver/nvidia/gpus',
    cgroupDir: '/sys/fs/cgroup',
    totalMemory: os.totalmem(),
    cpus: os.availableParallelism(),
    backendGpu,
  };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * GPUs a stage started here can use: the driver's devices, narrowed by CUDA_VISIBLE_DEVICES as CUDA
 * narrows them (empty or -1 hides all). Counted from the driver rather than from the tensor backend,
 * because `command` stages (torchrun) use the GPUs whatever backend this worker's own tensors use.
 */
export function gpuCount(p: Pick<HostProbe, 'env' | 'nvidiaProcDir' | 'backendGpu'>): number {
  let devices = 0;
  try {
    devices = readdirSync(p.nvidiaProcDir).length;
  } catch {
    // no NVIDIA driver visible
  }
  if (devices === 0 && p.backendGpu) devices = 1; // the backend computes on a GPU the container hides from /proc
  const visible = p.env.CUDA_VISIBLE_DEVICES;
  if (visible === undefined) return devices;
  const listed = visible
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  // CUDA stops at the first invalid index: "-1" (or "-1,0") hides every GPU.
  const valid = listed.findIndex((s) => s.startsWith('-'));
  const n = valid < 0 ? listed.length : valid;
  return devices === 0 ? 0 : Math.min(n, devices);
}

/** RAM: the cgroup limit when it is below the machine's (containers), else the machine's. */
export function memoryBytes(p: Pick<HostProbe, 'cgroupDir' | 'totalMemory'>): number {
  const limits = [readText(`${p.cgroupDir}/memory.max`), readText(`${p.cgroupDir}/memory/memory.limit_in_bytes`)]
    .map((t) => (t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined))
    .filter((n): n is number => n !== undefined && n > 0);
  return Math.min(p.totalMemory, ...limits);
}

/** CPUs: the cgroup quota (cpu.max "quota period") when set, else the cores this process may use. */
export function cpuCount(p: Pick<HostProbe, 'cgroupDir' | 'cpus'>): number {
  const m = /^(\d+)\s+(\d+)$/.exec(readText(`${p.cgroupDir}/cpu.max`) ?? '');
  const quota = m === null ? undefined : Number(m[1]) / Number(m[2]);
  return quota !== undefined && quota > 0 && quota < p.cpus ? Math.round(quota * 100) / 100 : p.cpus;
}

export function detectOffer(p: HostProbe): ResourceOffer {
  return { gpus: gpuCount(p), memoryBytes: memoryBytes(p), cpus: cpuCount(p) };
}

/** The detected offer with `--resources` applied; a malformed flag is a usage error naming the form. */
export function workerOffer(flag: string | undefined, probe: HostProbe = defaultProbe()): ResourceOffer {
  const detected = detectOffer(probe);
  if (flag === undefined) return detected;
  const parsed = parseOfferOverrides(flag);
  if ('error' in parsed) throw new PipelineError('SPEC_INVALID', `--resources ${flag}: ${parsed.error}`);
  return { ...detected, ...parsed.offer };
}
