/**
 * Our side of the inception bench, run as a child process by bench/inception.suite.ts so its TensorFlow
 * thread pools are set from the environment (bench/threads.ts).
 *
 * stdin:  InceptionBenchInput (bench/inception-cases.ts)
 * stdout: last line {backend, env: {TF_NUM_INTRAOP_THREADS, …}, results: {name: StepTiming & {leaked}}}
 * and the pool_3 features of the parity images in files.parityOut.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { initBackend } from '../compute/backend';
import { encodeNpy, readNpyFile } from '../data/npy';
import { FidInception, POOL_DIM } from '../models/inception';
import { loadInceptionWeights } from '../models/inception-weights';
import type { InceptionBenchInput } from './inception-cases';
import { threadEnv, timeSteps, type StepTiming } from './threads';

export type OursInceptionResult = StepTiming & { leaked: number };

/** One extraction batch as models/inception-features.ts runs it: forward, then all three outputs read back. */
function extractOnce(net: FidInception, images: tf.Tensor4D): void {
  const r = net.forward(images);
  r.pool.dataSync();
  r.spatial.dataSync();
  r.logits.dataSync();
  tf.dispose([r.pool, r.spatial, r.logits]);
}

async function main(): Promise<void> {
  const input = JSON.parse(readFileSync(0, 'utf8')) as InceptionBenchInput;
  const backend = await initBackend({ log: null });
  const net = FidInception.fromWeights(await loadInceptionWeights(input.files.weights));
  try {
    const results: Record<string, OursInceptionResult> = {};
    for (const c of input.cases) {
      // uint8-range pixels as int32, as extractInceptionFeatures builds its batches
      const images = tf.randomUniform<tf.Rank.R4>([c.batch, c.size, c.size, 3], 0, 256, 'int32', 3);
      try {
        timeSteps(() => extractOnce(net, images), 0, input.warmup);
        const before = tf.memory().numTensors;
        const t = timeSteps(() => extractOnce(net, images), input.reps, 0);
        results[c.name] = { ...t, leaked: tf.memory().numTensors - before };
      } finally {
        images.dispose();
      }
    }
    const parity = await readNpyFile(input.files.parityImages);
    const n = parity.shape[0] as number;
    const x = tf.tensor4d(Int32Array.from(parity.data as Uint8Array), [n, 299, 299, 3], 'int32');
    const r = net.forward(x);
    const pool = r.pool.dataSync() as Float32Array;
    tf.dispose([x, r.pool, r.spatial, r.logits]);
    await writeFile(input.files.parityOut, encodeNpy(pool, [n, POOL_DIM]));
    const env = Object.fromEntries(Object.keys(threadEnv(1)).map((k) => [k, process.env[k] ?? null]));
    console.log(JSON.stringify({ backend: backend.backend, intraOpThreads: backend.intraOpThreads ?? null, env, results }));
  } finally {
    net.dispose();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
