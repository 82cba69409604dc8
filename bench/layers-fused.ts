/**
 * A/B of the layers' native fused paths (models/layers/native-fused.ts, issue 12): the same layer or
 * train step with them off and on, alternated in one process, so both see the same machine load.
 * Reports process CPU ms (steadier than wall time on a shared machine) medians, and the load average.
 *
 *   TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 nice npx tsx bench/layers-fused.ts [--layers] [--steps] [--reps N]
 *
 * --layers: fwd+bwd (gradients of the input and every parameter) and forward alone of LayerNorm, Linear,
 * exact GELU and the attention core at the tokenizer smoke/mid and RAR smoke shapes; --steps: one
 * tokenizer train/encode step and one RAR train step (bench/tokenizer-cases.ts, bench/rar-cases.ts).
 * Neither flag: both.
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { initBackend } from '../compute/backend';
import { gelu } from '../models/layers/activations';
import { attend, causalBias } from '../models/layers/attention';
import { LayerNorm } from '../models/layers/layer-norm';
import { Linear } from '../models/layers/linear';
import { fusedBackend, setNativeFused } from '../models/layers/native-fused';
import { Rng } from '../models/training/rng';
import { oursRarCase, rarCases } from './rar-cases';
import { oursTokenizerCase, tokenizerCases } from './tokenizer-cases';

interface Case {
  name: string;
  /** Differentiated: the layer input(s), then its parameters. */
  xs: tf.Tensor[];
  f: (...x: tf.Tensor[]) => tf.Tensor;
}

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)] as number;
}

function cpuMs(f: () => unknown): number {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

/** Runs `run` reps + warm-up times per setting, alternating off/on (order flipped every round); medians. */
async function ab(run: (fused: boolean) => unknown, reps: number, warmup: number): Promise<{ off: number; on: number }> {
  const t = { off: [] as number[], on: [] as number[] };
  for (let r = 0; r < reps + warmup; r++) {
    for (const on of r % 2 ? [false, true] : [true, false]) {
      setNativeFused(on);
      const c0 = process.cpuUsage();
      await run(on);
      const c = process.cpuUsage(c0);
      if (r >= warmup) t[on ? 'on' : 'off'].push((c.user + c.system) / 1000);
    }
  }
  setNativeFused(undefined);
  return { off: median(t.off), on: median(t.on) };
}

function layerCases(): Case[] {
  const rng = Rng.fromSeed(1);
  const out: Case[] = [];
  const shapes: [string, number, number, number, number, boolean][] = [
    // label, batch, tokens, width, heads, causal: the tokenizer's encoder sees patches + latent tokens
    ['tokenizer smoke', 32, 128, 64, 2, false],
    ['tokenizer mid', 16, 128, 256, 4, false],
    ['RAR smoke', 32, 65, 128, 4, true],
  ];
  for (const [label, B, T, C, nh, causal] of shapes) {
    const ln = new LayerNorm({ dim: C, eps: 1e-6 });
    out.push({ name: `${label} LayerNorm [${B}, ${T}, ${C}]`, xs: [tf.randomNormal([B, T, C]), ln.weight!, ln.bias!], f: (x) => ln.forward(x) });
    for (const [i, o] of [
      [C, 3 * C],
      [C, 4 * C],
      [4 * C, C],
    ] as [number, number][]) {
      const lin = new Linear({ inFeatures: i, outFeatures: o, rng });
      out.push({ name: `${label} Linear ${i} → ${o}`, xs: [tf.randomNormal([B, T, i]), lin.weight, lin.bias!], f: (x) => lin.forward(x) });
    }
    out.push({ name: `${label} GELU [${B * T}, ${4 * C}]`, xs: [tf.randomNormal([B * T, 4 * C])], f: (x) => gelu(x) });
    const hs = C / nh;
    const bias = causal ? causalBias(T, T, 0) : undefined;
    out.push({
      name: `${label} attention core [${B}, ${nh}, ${T}, ${hs}]${causal ? ' causal' : ''}`,
      xs: [0, 1, 2].map(() => tf.randomNormal([B, nh, T, hs])),
      f: (q, k, v) => attend(q, k, v, 1 / Math.sqrt(hs), bias),
    });
  }
  return out;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const reps = argv.includes('--reps') ? Number(argv[argv.indexOf('--reps') + 1]) : 20;
  const both = !argv.includes('--layers') && !argv.includes('--steps');
  await initBackend({ backend: 'tensorflow', log: null });
  if (!fusedBackend(tf.zeros([1]))) throw new Error('the fused kernels are not available on this backend: nothing to compare');
  console.log(
    `threads intra/inter ${process.env.TF_NUM_INTRAOP_THREADS ?? 'default'}/${process.env.TF_NUM_INTEROP_THREADS ?? 'default'}, load ${os.loadavg()[0]!.toFixed(2)}`,
  );
  const results: Record<string, unknown>[] = [];
  if (both || argv.includes('--layers')) {
    console.log('| layer | fwd+bwd CPU ms off → on | forward CPU ms off → on |\n| --- | --- | --- |');
    for (const c of layerCases()) {
      const dy = tf.tidy(() => tf.randomNormal(c.f(...c.xs).shape));
      const before = tf.memory().numTensors;
      // tf.tidy(() => { …; }) returns nothing, so every result is freed (a returned tensor would outlive the tidy)
      const full = await ab(() => cpuMs(() => tf.tidy(() => void tf.grads(c.f)(c.xs, dy))), reps, 4);
      const fwd = await ab(() => cpuMs(() => tf.tidy(() => void c.f(...c.xs))), reps, 4);
      console.log(
        `| ${c.name} | ${full.off.toFixed(2)} → ${full.on.toFixed(2)} (${(full.on / full.off).toFixed(2)}×) | ${fwd.off.toFixed(2)} → ${fwd.on.toFixed(2)} |`,
      );
      if (tf.memory().numTensors !== before) throw new Error(`${c.name}: ${tf.memory().numTensors - before} tensors leaked`);
      results.push({ layer: c.name, fwdBwd: full, forward: fwd });
      dy.dispose();
    }
  }
  if (both || argv.includes('--steps')) {
    const steps = [
      ...tokenizerCases().map((c) => ({ name: `tokenizer ${c.name}`, make: () => oursTokenizerCase(c) })),
      ...rarCases(true)
        .filter((c) => c.kind === 'train')
        .map((c) => ({ name: `RAR ${c.name}`, make: () => oursRarCase(c) })),
    ];
    console.log('| step | CPU ms off → on | load |\n| --- | --- | --- |');
    for (const s of steps) {
      const o = s.make();
      try {
        const load = os.loadavg()[0]!;
        const r = await ab(() => o.run(), Math.max(4, Math.round(reps / 2)), 2);
        console.log(`| ${s.name} | ${r.off.toFixed(0)} → ${r.on.toFixed(0)} (${(r.on / r.off).toFixed(2)}×) | ${load.toFixed(1)} |`);
        results.push({ step: s.name, cpuMs: r, load });
      } finally {
        o.dispose();
      }
    }
  }
  console.log(JSON.stringify({ load: os.loadavg()[0], results }));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
