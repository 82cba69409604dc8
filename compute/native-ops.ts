/**
 * Our own TensorFlow kernels (native/robustok-ops/*.cc), for the native backend (issue 12).
 *
 * TensorFlow's CPU build has no single kernel for some of the models' hottest elementwise work (exact
 * GELU and its gradient take 11 full-size kernels through tfjs ops), so `infra/native-tensorflow.sh`
 * compiles a small op library against the wheel's C++ headers into tfjs-node's `deps/robustok-ops/`, one
 * build per instruction set. Loading it registers the ops in the TensorFlow registry tfjs-node's binding
 * already uses, after which they run eagerly by name (`executeSingleOutput`) and inside the deferred
 * executor's graphs like any built-in op.
 *
 * The library is loaded once, after tfjs-node, and checked on a few values; a missing or failing library
 * leaves `nativeOpsStatus().loaded` false and every layer on its tfjs path. `ROBUSTOK_NATIVE_OPS=off` (or
 * `setNativeOps(false)` for in-process A/B benches) turns the ops off without unloading them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import type { OpAttr } from './deferred-graph';

const requireHere = createRequire(__filename);

/** The build variants, best first; `cpuFlag` is what /proc/cpuinfo must list for it to run here. */
const VARIANTS: readonly { isa: string; cpuFlags: readonly string[] }[] = [
  { isa: 'avx2', cpuFlags: ['avx2', 'fma'] },
  { isa: 'avx', cpuFlags: ['avx'] },
];

export interface NativeOpsStatus {
  /** True when the library is loaded and passed its check. */
  loaded: boolean;
  /** The variant loaded (`avx2`, `avx`), or why none was: "not built", "off", the load error. */
  detail: string;
  /** The ops the library registered. */
  ops: readonly string[];
}

/** Every op the layers call through nativeOpsBackend (native/robustok-ops/module.cc lists what a build has). */
export const REQUIRED_OPS: readonly string[] = [
  'RobustokAdamW',
  'RobustokAttentionScoresGrad',
  'RobustokAttentionScoresGradMasked',
  'RobustokDropoutMask',
  'RobustokGelu',
  'RobustokGeluGrad',
  'RobustokLayerNorm',
  'RobustokLayerNormGrad',
  'RobustokMatMulBias',
  'RobustokResidualBranch',
  'RobustokResidualBranchGrad',
];

/** The ops the layers call that a build's op list lacks (a build from older sources). */
export function missingOps(built: readonly string[]): string[] {
  return REQUIRED_OPS.filter((op) => !built.includes(op));
}

let status: NativeOpsStatus | undefined;
let override: boolean | undefined;

/** Forces the ops on (where loaded) or off; undefined restores ROBUSTOK_NATIVE_OPS (default on). */
export function setNativeOps(enabled: boolean | undefined): void {
  override = enabled;
}

/** ROBUSTOK_NATIVE_OPS: `on` (default) or `off`; anything else is a CONFIG_INVALID error naming the choices. */
export function nativeOpsWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = (env.ROBUSTOK_NATIVE_OPS ?? 'on').trim();
  if (v === 'on' || v === '') return true;
  if (v === 'off') return false;
  throw new PipelineError('CONFIG_INVALID', `ROBUSTOK_NATIVE_OPS must be on or off, got "${v}"`);
}

/** Where tfjs-node's package lives (the op library sits in its deps/), or null when it is not installed. */
function tfjsNodeDir(): string | null {
  try {
    return path.dirname(requireHere.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    return null;
  }
}

function cpuFlags(): Set<string> {
  try {
    const m = /^flags\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    return new Set((m?.[1] ?? '').split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * Loads the op library once (call after tfjs-node is the backend). Returns what happened; never throws
 * for a missing or broken library, since the tfjs paths compute the same values.
 */
export function loadNativeOps(): NativeOpsStatus {
  if (status) return status;
  if (!nativeOpsWanted()) return (status = { loaded: false, detail: 'off (ROBUSTOK_NATIVE_OPS=off)', ops: [] });
  if (tf.getBackend() !== 'tensorflow') return { loaded: false, detail: `backend is ${tf.getBackend()}`, ops: [] };
  const dir = tfjsNodeDir();
  const flags = cpuFlags();
  const variant = VARIANTS.find((v) => v.cpuFlags.every((f) => flags.has(f)));
  const file = dir && variant ? path.join(dir, 'deps', 'robustok-ops', `robustok_ops.${variant.isa}.node`) : null;
  if (!file || !existsSync(file)) {
    return (status = { loaded: false, detail: 'not built (run: bash infra/native-tensorflow.sh)', ops: [] });
  }
  try {
    const lib = requireHere(file) as { ops: string[]; isa: string };
    // a library built from older sources lacks ops the layers now call: using it would fail mid-step
    const missing = missingOps(lib.ops);
    if (missing.length > 0) {
      return (status = { loaded: false, detail: `stale build, lacks ${missing.join(', ')} (run: bash infra/native-tensorflow.sh)`, ops: lib.ops });
    }
    check();
    status = { loaded: true, detail: lib.isa, ops: lib.ops };
  } catch (e) {
    status = { loaded: false, detail: `failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`, ops: [] };
  }
  return status;
}

/** GELU and its derivative at a few points, from math.erf in float64 (known answers). */
const GELU_KAT: readonly (readonly [x: number, y: number, dydx: number])[] = [
  [-3, -0.00404969409489031, -0.01194564720418392],
  [-1, -0.15865525393145707, -0.08331547058768629],
  [-0.25, -0.10032341857926907, 0.30462664511636395],
  [0, 0, 0.5],
  [0.5, 0.34573123063700656, 0.8674951246561629],
  [2, 1.9544997361036416, 1.085231801078197],
  [6, 5.999999994080474, 1.0000000354687093],
];

/** The library's GELU against the known answers (a wrong build must not train a model). */
function check(): void {
  const be = tf.backend() as unknown as NativeOpsBackend;
  tf.tidy(() => {
    const x = tf.tensor1d(GELU_KAT.map((k) => k[0]));
    const y = be.executeSingleOutput('RobustokGelu', [], [x]).dataSync();
    const dx = be.executeSingleOutput('RobustokGeluGrad', [], [tf.onesLike(x), x]).dataSync();
    GELU_KAT.forEach(([x0, y0, d0], i) => {
      if (!(Math.abs((y[i] as number) - y0) < 1e-6 && Math.abs((dx[i] as number) - d0) < 1e-6)) {
        throw new Error(`check failed at x=${x0}: y ${y[i]} (want ${y0}), dy/dx ${dx[i]} (want ${d0})`);
      }
    });
  });
}

/** What the library's status is now (loaded or not), without loading it. */
export function nativeOpsStatus(): NativeOpsStatus | undefined {
  return status;
}

/** An attribute as tfjs-node's binding takes it (the deferred executor records the same shape). */
export type NativeOpAttr = OpAttr;

/** The parts of tfjs-node's backend that run an op by name. */
export interface NativeOpsBackend {
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number; TF_ATTR_INT: number };
  executeSingleOutput(name: string, attrs: NativeOpAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeOpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
}

/** tfjs-node's backend when our ops can run (on this float32 tensor, if one is given), else undefined (use the tfjs path). */
export function nativeOpsBackend(x?: tf.Tensor): NativeOpsBackend | undefined {
  // ROBUSTOK_NATIVE_OPS was read once, by loadNativeOps: `off` left the library unloaded
  if (override === false || !status?.loaded) return undefined;
  if ((x !== undefined && x.dtype !== 'float32') || tf.getBackend() !== 'tensorflow') return undefined;
  return tf.backend() as unknown as NativeOpsBackend;
}

/** Names registered by registerOpKernel (a Set, so the layers' per-call check is one lookup). */
const registeredKernels = new Set<string>();

/**
 * Makes one of our ops a tfjs kernel of the native backend, once per process: `run` executes it, and
 * `gradFunc` gives a gradient per input, as tfjs's own gradient configs do, so autodiff computes only the
 * gradients it needs (a tf.customGrad would compute every input's). Call before each runKernel(name).
 */
export function registerOpKernel(
  name: string,
  run: (be: NativeOpsBackend, inputs: Record<string, tf.Tensor>) => tf.Tensor,
  inputsToSave: string[],
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>,
): void {
  if (registeredKernels.has(name)) return;
  registeredKernels.add(name);
  tf.registerKernel({
    kernelName: name,
    backendName: 'tensorflow',
    kernelFunc: ({ inputs, backend }) => run(backend as unknown as NativeOpsBackend, inputs as Record<string, tf.Tensor>),
  });
  tf.registerGradient({ kernelName: name, inputsToSave, gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => gradFunc(dy as tf.Tensor, saved) });
}
