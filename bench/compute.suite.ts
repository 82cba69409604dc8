/**
 * Compute suite: the kernels training leans on (matmul and its gradient, batched attention matmul,
 * conv forward/backward, a transformer block's training step at a few widths), on our backend and in
 * PyTorch on one thread (our wasm backend is single-threaded in Node; tfjs-node's threads are its own).
 * The machine's ceiling, peak_gflops, is PyTorch's 2048³ matmul on all cores.
 */
import * as tf from '@tensorflow/tfjs';
import { blockForward, blockForwardFlops, blockVariables, causalMask, initBlock } from './compute-block';
import type { BenchCase, BenchContext, BenchSuite } from './run';
import { medianMs } from './run';
import { runTorch } from './torch';

type CaseSpec =
  | { kind: 'matmul' | 'matmul_grad'; name: string; m: number; k: number; n: number }
  | { kind: 'batched_matmul'; name: string; a: number[]; b: number[]; transposeB: boolean }
  | {
      kind: 'conv_fwd' | 'conv_bwd_filter' | 'conv_bwd_input';
      name: string;
      x: [number, number, number, number];
      f: [number, number, number, number];
      stride: number;
      pad: number;
    }
  | { kind: 'block_train'; name: string; b: number; t: number; width: number; heads: number; mlpRatio: number };

function cases(quick: boolean): CaseSpec[] {
  const conv = (x: [number, number, number, number], f: [number, number, number, number], stride: number, pad: number, label: string): CaseSpec[] =>
    (['conv_fwd', 'conv_bwd_filter', 'conv_bwd_input'] as const).map((kind) => ({ kind, name: `${kind} ${label}`, x, f, stride, pad }));
  const list: CaseSpec[] = [
    { kind: 'matmul', name: 'matmul 2048x2048x2048', m: 2048, k: 2048, n: 2048 },
    { kind: 'matmul', name: 'matmul 512x512x512', m: 512, k: 512, n: 512 },
    { kind: 'matmul', name: 'matmul 2048x128x512', m: 2048, k: 128, n: 512 },
    { kind: 'matmul_grad', name: 'matmul grad 2048x128x512', m: 2048, k: 128, n: 512 },
    { kind: 'batched_matmul', name: 'q.kT [16,4,128,32]', a: [16, 4, 128, 32], b: [16, 4, 128, 32], transposeB: true },
    ...conv([16, 32, 32, 64], [3, 3, 64, 64], 1, 1, '16x32x32x64 3x3'), // pad 1 = 'same' at stride 1
    ...conv([16, 64, 64, 3], [16, 16, 3, 128], 16, 0, 'patch16 16x64x64x3->128'),
  ];
  const widths = quick ? [64, 128] : [64, 128, 256];
  for (const width of widths) list.push({ kind: 'block_train', name: `block train B16 T128 C${width}`, b: 16, t: 128, width, heads: width / 32, mlpRatio: 4 });
  return list;
}

function flops(c: CaseSpec): number | null {
  switch (c.kind) {
    case 'matmul':
      return 2 * c.m * c.k * c.n;
    case 'matmul_grad':
      return 4 * c.m * c.k * c.n;
    case 'batched_matmul': {
      const [m, k] = c.a.slice(-2) as [number, number];
      const n = (c.transposeB ? c.b[c.b.length - 2] : c.b[c.b.length - 1]) as number;
      return 2 * c.a.slice(0, -2).reduce((x, y) => x * y, 1) * m * k * n;
    }
    case 'block_train':
      return 3 * blockForwardFlops({ width: c.width, heads: c.heads, mlpRatio: c.mlpRatio }, c.b, c.t);
    default: {
      const [n, h, w] = c.x;
      const [kh, kw, ci, co] = c.f;
      const oh = Math.floor((h + 2 * c.pad - kh) / c.stride) + 1;
      const ow = Math.floor((w + 2 * c.pad - kw) / c.stride) + 1;
      return 2 * n * oh * ow * kh * kw * ci * co;
    }
  }
}

function sync(out: tf.Tensor | tf.Tensor[]): void {
  const list = Array.isArray(out) ? out : [out];
  for (const t of list) {
    t.dataSync();
    t.dispose();
  }
}

/** Builds inputs once and returns a timed closure plus a cleanup. */
function ours(c: CaseSpec): { run: () => void; dispose: () => void } {
  const keep: tf.Tensor[] = [];
  const rnd = (shape: number[]) => {
    const t = tf.randomNormal(shape, 0, 1, 'float32', keep.length + 1);
    keep.push(t);
    return t;
  };
  const done = () => tf.dispose(keep);
  switch (c.kind) {
    case 'matmul': {
      const a = rnd([c.m, c.k]),
        b = rnd([c.k, c.n]);
      return { run: () => sync(tf.matMul(a, b)), dispose: done };
    }
    case 'matmul_grad': {
      const a = rnd([c.m, c.k]),
        b = rnd([c.k, c.n]),
        dy = rnd([c.m, c.n]);
      return { run: () => sync([tf.matMul(dy, b, false, true), tf.matMul(a, dy, true, false)]), dispose: done };
    }
    case 'batched_matmul': {
      const a = rnd(c.a),
        b = rnd(c.b);
      return { run: () => sync(tf.matMul(a, b, false, c.transposeB)), dispose: done };
    }
    case 'block_train': {
      const cfg = { width: c.width, heads: c.heads, mlpRatio: c.mlpRatio };
      const params = initBlock(cfg, 1);
      const vars = blockVariables(params);
      const x = rnd([c.b, c.t, c.width]) as tf.Tensor3D;
      const mask = causalMask(c.t);
      const opt = tf.train.adam(1e-3);
      const loss = () => tf.tidy(() => blockForward(params, cfg, x, mask).square().mean<tf.Scalar>());
      return {
        run: () => {
          const l = opt.minimize(loss, true, vars);
          if (l) sync(l);
        },
        dispose: () => {
          opt.dispose();
          tf.dispose([...vars, mask]);
          done();
        },
      };
    }
    default: {
      const [n, h, w, ci] = c.x;
      const [kh, kw, , co] = c.f;
      const x = rnd(c.x) as tf.Tensor4D,
        f = rnd(c.f) as tf.Tensor4D;
      // Named paddings, not explicit ones: tfjs-node's backprop kernels accept only 'same' and 'valid'.
      const pad = c.pad === 0 ? 'valid' : 'same';
      const oh = Math.floor((h + 2 * c.pad - kh) / c.stride) + 1;
      const ow = Math.floor((w + 2 * c.pad - kw) / c.stride) + 1;
      const dy = rnd([n, oh, ow, co]) as tf.Tensor4D;
      if (c.kind === 'conv_fwd') return { run: () => sync(tf.conv2d(x, f, c.stride, pad)), dispose: done };
      if (c.kind === 'conv_bwd_filter')
        return {
          run: () =>
            sync(tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { strides: c.stride, pad, dataFormat: 'NHWC', filterShape: c.f })),
          dispose: done,
        };
      return {
        run: () =>
          sync(
            tf
              .engine()
              .runKernel<tf.Tensor>('Conv2DBackpropInput', { dy, filter: f }, { strides: c.stride, pad, dataFormat: 'NHWC', inputShape: [n, h, w, ci] }),
          ),
        dispose: done,
      };
    }
  }
}

async function run(ctx: BenchContext): Promise<BenchCase[]> {
  const specs = cases(ctx.quick);
  let torchMs: Record<string, number> = {};
  if (ctx.torch) {
    // Torch's conv is NCHW and takes symmetric int padding: the specs carry exactly what both sides need.
    ctx.log(`  torch: ${specs.length} cases on 1 thread…`);
    torchMs = runTorch(ctx.torch, specs, 1, ctx.reps).results;
    const peak = runTorch(ctx.torch, [{ kind: 'matmul', name: 'peak', m: 2048, k: 2048, n: 2048 }], 2, ctx.reps).results.peak;
    if (peak) ctx.peakGflops = (2 * 2048 ** 3) / (peak * 1e6);
  }
  const out: BenchCase[] = [];
  for (const c of specs) {
    const o = ours(c);
    try {
      const ms = await medianMs(o.run, c.kind === 'block_train' || c.name.includes('2048x2048') ? Math.min(ctx.reps, 3) : ctx.reps);
      const f = flops(c);
      const t = torchMs[c.name] ?? null;
      out.push({
        suite: 'compute',
        name: c.name,
        ours_ms: ms,
        torch_ms: t,
        ratio: t ? ms / t : null,
        gflops: f === null ? null : f / (ms * 1e6),
        peak_gflops: ctx.peakGflops,
      });
      ctx.log(`  ${c.name}: ${ms.toFixed(1)} ms${t ? ` (torch ${t.toFixed(1)} ms, ×${(ms / t).toFixed(2)})` : ''}`);
    } finally {
      o.dispose();
    }
  }
  return out;
}

export const suite: BenchSuite = {
  name: 'compute',
  description: 'matmul, conv forward/backward, transformer block training step vs PyTorch (1 thread)',
  run,
};
