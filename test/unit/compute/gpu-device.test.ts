/** What a manifest records as the GPU: only a device TensorFlow actually uses, named by the driver's /proc entries. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gpuDevice } from '../../../compute/backend';

test('no GPU in use (tfjs-node-gpu fell back to the CPU, or a CPU package): null', () => {
  assert.equal(gpuDevice({ isUsingGpuDevice: false }, {}), null);
  assert.equal(gpuDevice({}, { CUDA_VISIBLE_DEVICES: '0' }), null);
});

test('a GPU in use: the models from /proc/driver/nvidia/gpus and CUDA_VISIBLE_DEVICES', async () => {
  const proc = await mkdtemp(path.join(os.tmpdir(), 'nvidia-gpus-'));
  for (const [bus, model] of [
    ['0000:3b:00.0', 'NVIDIA A100-SXM4-80GB'],
    ['0000:af:00.0', 'NVIDIA A100-SXM4-80GB'],
  ] as const) {
    await mkdir(path.join(proc, bus));
    await writeFile(path.join(proc, bus, 'information'), `Model: \t\t ${model}\nIRQ:   \t\t 42\nGPU UUID: \t GPU-1234\n`);
  }
  assert.equal(
    gpuDevice({ isUsingGpuDevice: true }, { CUDA_VISIBLE_DEVICES: '1' }, proc),
    'cuda CUDA_VISIBLE_DEVICES=1 (NVIDIA A100-SXM4-80GB, NVIDIA A100-SXM4-80GB)',
  );
  assert.equal(gpuDevice({ isUsingGpuDevice: true }, {}, path.join(proc, 'absent')), 'cuda');
});
