/**
 * In-process A/B of issue 12's kernel trims in the RAR train step, each side a graph-mode step
 * (withDeferredExecution) of its own model, interleaved step by step so load changes hit all alike:
 *
 * - base: clipByGlobalNorm per parameter, then AdamW.applyGradients (the norm read in between, as the
 *   trainer did), and cross-entropy as log-softmax · one-hot (native fused 'crossEntropy' off);
 * - clip: AdamW.applyClippedGradients (clipping on the flat group vectors), portable cross-entropy;
 * - ce:   both trims (the trainer as it is).
 *
 *   TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 nice npx tsx bench/kernel-ab.ts smoke|mid [reps]
 */
import os from 'node:os';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../compute/backend';
import { setNativeFused, type FusedFeature } from '../models/layers/native-fused';
import { AdamW } from '../models/training/adamw';
import { clipByGlobalNorm } from '../models/training/clip';
import { disposeGrads } from '../models/training/grads';
import { oursRarCase, rarCases } from './rar-cases';

type Side = 'base' | 'clip' | 'ce';
const SIDES: Side[] = ['base', 'clip', 'ce'];
const WITHOUT_XENT: FusedFeature[] = ['layerNorm', 'bias', 'softmax', 'gelu'];

const fusedClip = Object.getOwnPropertyDescriptor(AdamW.prototype, 'applyClippedGradients')!.value as AdamW['applyClippedGradients'];
/** The trainer's pre-issue-12 clipping, swapped in for the base side. */
function separateClip(this: AdamW, grads: Map<string, tf.Tensor>, maxNorm: number, lr?: number): tf.Scalar {
  const c = clipByGlobalNorm(grads, maxNorm);
  c.norm.dataSync(); // the trainer read the norm before applying
  this.applyGradients(c.grads, lr);
  disposeGrads(c.grads);
  return c.norm;
}

function use(side: Side): void {
  AdamW.prototype.applyClippedGradients = side === 'base' ? separateClip : fusedClip;
  setNativeFused(side === 'ce' ? undefined : WITHOUT_XENT);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] as number;

async function main(): Promise<void> {
  const [size = 'smoke', repsArg = '10'] = process.argv.slice(2);
  const reps = Number(repsArg);
  await initBackend({ log: null });
  const spec = rarCases(false).find((x) => x.kind === 'train' && x.name.includes(size));
  if (!spec) throw new Error(`no RAR train case "${size}"`);
  const cases = Object.fromEntries(SIDES.map((s) => [s, oursRarCase({ ...spec, exec: 'graph' })])) as Record<Side, ReturnType<typeof oursRarCase>>;
  const wall: Record<Side, number[]> = { base: [], clip: [], ce: [] };
  const cpu: Record<Side, number[]> = { base: [], clip: [], ce: [] };
  for (let i = 0; i < 4 + reps; i++) {
    // rotate the order each round so no side always follows the same one
    for (let k = 0; k < SIDES.length; k++) {
      const side = SIDES[(i + k) % SIDES.length]!;
      use(side);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await cases[side].run();
      const c = process.cpuUsage(c0);
      if (i < 4) continue; // learning and graph building
      wall[side].push(performance.now() - t0);
      cpu[side].push((c.user + c.system) / 1000);
    }
  }
  const r = (x: number) => Math.round(x * 10) / 10;
  console.log(
    JSON.stringify({
      size,
      reps,
      threads: process.env.TF_NUM_INTRAOP_THREADS ?? null,
      load1: os.loadavg()[0],
      ...Object.fromEntries(
        SIDES.flatMap((s) => [
          [`${s}_ms`, r(median(wall[s]))],
          [`${s}_cpu_ms`, r(median(cpu[s]))],
        ]),
      ),
    }),
  );
  use('ce');
  for (const c of Object.values(cases)) c.dispose();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
