/**
 * Installs our wasm kernels into tfjs's global kernel registry (ARCHITECTURE §5).
 *
 * Two kinds: overrides of built-in kernels whose wasm implementation takes a slow path in training
 * (BatchMatMul, _FusedMatMul, Transpose, Conv2DBackpropInput), and kernels the wasm backend lacks altogether
 * (Conv2DBackpropFilter, UnsortedSegmentSum, depthwise backprops). An override keeps the built-in's
 * setupFunc (it binds the C functions the built-in kernelFunc calls, and runs when the backend starts)
 * and may still call the built-in for the cases it handles well, so the built-in is captured first.
 * Safe to call before or after the wasm backend is initialised, and more than once.
 */
import * as tf from '@tensorflow/tfjs';
// Importing the package registers the built-in wasm kernels, which must exist before we capture them.
import '@tensorflow/tfjs-backend-wasm';
import { conv2dBackpropFilterConfig } from './conv2d-backprop-filter';
import { conv2dBackpropInputConfig } from './conv2d-backprop-input';
import { depthwiseBackpropFilterConfig, depthwiseBackpropInputConfig } from './depthwise-backprop';
import { batchMatMulConfig, fusedMatMulConfig } from './matmul';
import { transposeConfig } from './transpose';
import { unsortedSegmentSumConfig } from './unsorted-segment-sum';
import { captureBuiltin } from './wasm-ops';

let registered = false;

export const WASM_OVERRIDDEN_KERNELS = ['BatchMatMul', '_FusedMatMul', 'Transpose', 'Conv2DBackpropInput'] as const;
export const WASM_ADDED_KERNELS = [
  'Conv2DBackpropFilter',
  'UnsortedSegmentSum',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  const overrides = [batchMatMulConfig(), fusedMatMulConfig(), transposeConfig(), conv2dBackpropInputConfig()];
  for (const cfg of overrides) {
    const original = captureBuiltin(cfg.kernelName);
    if (!original) throw new Error(`wasm backend has no built-in ${cfg.kernelName} to override`);
    tf.unregisterKernel(cfg.kernelName, 'wasm');
    tf.registerKernel({ ...cfg, ...(original.setupFunc ? { setupFunc: original.setupFunc } : {}) });
  }
  const added = [conv2dBackpropFilterConfig(), unsortedSegmentSumConfig(), depthwiseBackpropFilterConfig(), depthwiseBackpropInputConfig()];
  for (const cfg of added) {
    if (!tf.getKernel(cfg.kernelName, 'wasm')) tf.registerKernel(cfg);
  }
  registered = true;
}
