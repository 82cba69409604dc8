/**
 * The compute suite's workloads (matmul and its gradient, batched attention matmul, conv forward and
 * backward — also a patch conv the way our models compute it — and a transformer block's training step),
 * shared by the suite (bench/compute.suite.ts), our child process (bench/compute-ours.ts) and, as JSON
 * specs, the PyTorch side (bench/torch_bench.py).
 */
import * as tf from '@tensorflow/tfjs';
import { patchify } from '../models/layers/patch-embed';
import { withDeferredExecution } from '../compute/deferred-execution';
import { VitBlock } from '../models/layers/vit-block';
import { AdamW } from '../models/training/adamw';
import { disposeGrads, namedGrads } from '../models/training/grads';
import { Rng } from '../models/training/rng';
import { blockForward, blockForwardFlops, blockVariables, causalMask, initBlock } from './compute-block';

/** Common to every case: see BenchCase.reference (bench/run.ts). */
interface CaseCommon {
  reference?: string;
}

export type CaseSpec = CaseCommon &
  (
    | { kind: 'matmul' | 'matmul_grad'; name: string; m: number; k: number; n: number }
    | { kind: 'batched_matmul'; name: string; a: number[]; b: number[]; transposeB: boolean }
    | {
        kind: 'conv_fwd' | 'conv_bwd_filter' | 'conv_bwd_input';
        name: string;
        x: [number, number, number, number];
        f: [number, number, number, number];
        stride: number;
        pad: number;
        /**
         * Ours only: 'patchify' computes a patch conv (kernel = stride, no padding) the way our models do
         * (models/layers/patch-embed.ts: patches × weight, gradients as matmuls), against PyTorch's conv.
         */
        via?: 'patchify';
      }
    | {
        kind: 'block_train';
        name: string;
        b: number;
        t: number;
        width: number;
        heads: number;
        mlpRatio: number;
        /** Ours only: 'graph' runs each step under withDeferredExecution (compute/deferred-execution.ts); PyTorch ignores it. */
        exec?: 'graph';
        /**
         * 'textbook' (default): the block of bench/compute-block.ts, plain tf ops and tf.train.adam, line for
         * line as bench/torch_bench.py writes it. 'ours': the block our models train — models/layers'
         * VitBlock (causal, exact GELU, eps 1e-6) and our AdamW — against PyTorch's functional ops
         * (F.layer_norm, F.linear, F.gelu) and torch.optim.AdamW, the way a PyTorch model writes the same block.
         */
        layers?: 'textbook' | 'ours';
      }
  );

export function computeCases(quick: boolean): CaseSpec[] {
  const conv = (x: [number, number, number, number], f: [number, number, number, number], stride: number, pad: number, label: string): CaseSpec[] =>
    (['conv_fwd', 'conv_bwd_filter', 'conv_bwd_input'] as const).map((kind) => ({ kind, name: `${kind} ${label}`, x, f, stride, pad }));
  const list: CaseSpec[] = [
    { kind: 'matmul', name: 'matmul 2048x2048x2048', m: 2048, k: 2048, n: 2048 },
    { kind: 'matmul', name: 'matmul 512x512x512', m: 512, k: 512, n: 512 },
    { kind: 'matmul', name: 'matmul 2048x128x512', m: 2048, k: 128, n: 512 },
    { kind: 'matmul_grad', name: 'matmul grad 2048x128x512', m: 2048, k: 128, n: 512 },
    { kind: 'batched_matmul', name: 'q.kT [16,4,128,32]', a: [16, 4, 128, 32], b: [16, 4, 128, 32], transposeB: true },
    ...conv([16, 32, 32, 64], [3, 3, 64, 64], 1, 1, '16x32x32x64 3x3'), // pad 1 = 'same' at stride 1
    ...conv([16, 64, 64, 3], [16, 16, 3, 128], 16, 0, 'patch16 16x64x64x3->128').map((c) => ({
      ...c,
      reference: `TensorFlow's conv kernel; PatchEmbed runs "${c.name} via patchify+matmul"`,
    })),
    ...conv([16, 64, 64, 3], [16, 16, 3, 128], 16, 0, 'patch16 16x64x64x3->128').map((c) => ({
      ...c,
      name: `${c.name} via patchify+matmul`,
      via: 'patchify' as const,
    })),
  ];
  const widths = quick ? [64, 128] : [64, 128, 256];
  const block = (width: number, label: string, more: Partial<Extract<CaseSpec, { kind: 'block_train' }>>): CaseSpec => ({
    kind: 'block_train',
    name: `block train B16 T128 C${width}${label}`,
    b: 16,
    t: 128,
    width,
    heads: width / 32,
    mlpRatio: 4,
    ...more,
  });
  // the textbook block (issue 12's first figures), eagerly and as one TensorFlow graph per step
  const textbook = (width: number) => `plain tf ops and tf.train.adam; training runs "block train B16 T128 C${width} (our layers, graph)"`;
  for (const width of widths) list.push(block(width, '', { reference: textbook(width) }));
  for (const width of widths) list.push(block(width, ' (graph)', { exec: 'graph', reference: textbook(width) }));
  // the block as the tokenizer and RAR train it: our layers and optimizer, one graph per step
  for (const width of widths) list.push(block(width, ' (our layers, graph)', { exec: 'graph', layers: 'ours' }));
  return list;
}

export function caseFlops(c: CaseSpec): number | null {
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

/**
 * Ends one timed call. No readback: every backend we run in Node executes kernels synchronously (a 2048³
 * matmul takes its full ~150 ms before tf.matMul returns, with or without dataSync), and copying the
 * result to JavaScript is not part of the kernel — it cost 3.4 of the 5.2 ms of the 2048×128×512 case,
 * while the PyTorch side never copies its result anywhere.
 */
function finish(out: tf.Tensor | tf.Tensor[]): void {
  tf.dispose(out);
}

/** Builds inputs once and returns a timed closure plus a cleanup. */
export function oursComputeCase(c: CaseSpec): { run: () => void; dispose: () => void } {
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
      return { run: () => finish(tf.matMul(a, b)), dispose: done };
    }
    case 'matmul_grad': {
      const a = rnd([c.m, c.k]),
        b = rnd([c.k, c.n]),
        dy = rnd([c.m, c.n]);
      return { run: () => finish([tf.matMul(dy, b, false, true), tf.matMul(a, dy, true, false)]), dispose: done };
    }
    case 'batched_matmul': {
      const a = rnd(c.a),
        b = rnd(c.b);
      return { run: () => finish(tf.matMul(a, b, false, c.transposeB)), dispose: done };
    }
    case 'block_train': {
      if (c.layers === 'ours') return ourBlockCase(c, rnd([c.b, c.t, c.width]), done);
      const cfg = { width: c.width, heads: c.heads, mlpRatio: c.mlpRatio };
      const params = initBlock(cfg, 1);
      const vars = blockVariables(params);
      const x = rnd([c.b, c.t, c.width]) as tf.Tensor3D;
      const mask = causalMask(c.t);
      const opt = tf.train.adam(1e-3);
      const loss = () => tf.tidy(() => blockForward(params, cfg, x, mask).square().mean<tf.Scalar>());
      const step = () => {
        const l = opt.minimize(loss, true, vars);
        if (l) finish(l);
      };
      return {
        run: c.exec === 'graph' ? () => withDeferredExecution(step) : step,
        dispose: () => {
          opt.dispose();
          tf.dispose([...vars, mask]);
          done();
        },
      };
    }
    default: {
      if (c.via === 'patchify') return patchConvCase(c, rnd, done);
      const [n, h, w, ci] = c.x;
      const [kh, kw, , co] = c.f;
      const x = rnd(c.x) as tf.Tensor4D,
        f = rnd(c.f) as tf.Tensor4D;
      // Named paddings, not explicit ones: tfjs-node's backprop kernels accept only 'same' and 'valid'.
      const pad = c.pad === 0 ? 'valid' : 'same';
      const oh = Math.floor((h + 2 * c.pad - kh) / c.stride) + 1;
      const ow = Math.floor((w + 2 * c.pad - kw) / c.stride) + 1;
      const dy = rnd([n, oh, ow, co]) as tf.Tensor4D;
      if (c.kind === 'conv_fwd') return { run: () => finish(tf.conv2d(x, f, c.stride, pad)), dispose: done };
      if (c.kind === 'conv_bwd_filter')
        return {
          run: () =>
            finish(tf.engine().runKernel<tf.Tensor>('Conv2DBackpropFilter', { x, dy }, { strides: c.stride, pad, dataFormat: 'NHWC', filterShape: c.f })),
          dispose: done,
        };
      return {
        run: () =>
          finish(
            tf
              .engine()
              .runKernel<tf.Tensor>('Conv2DBackpropInput', { dy, filter: f }, { strides: c.stride, pad, dataFormat: 'NHWC', inputShape: [n, h, w, ci] }),
          ),
        dispose: done,
      };
    }
  }
}

/**
 * One training step of the block our models are built from (models/layers/vit-block.ts: pre-LN, causal
 * attention with qkv bias, exact GELU MLP) with our AdamW (weight decay 0.01 on every parameter, as
 * torch.optim.AdamW's default), loss mean(out²), as the training stages run it.
 */
function ourBlockCase(c: Extract<CaseSpec, { kind: 'block_train' }>, x: tf.Tensor, done: () => void): { run: () => void; dispose: () => void } {
  const block = new VitBlock({ dim: c.width, numHeads: c.heads, mlpRatio: c.mlpRatio, qkvBias: true, act: 'gelu', rng: Rng.fromSeed(1) });
  const params = block.trainableParameters();
  const opt = new AdamW(params, { lr: 1e-3, weightDecay: 0.01 });
  const step = () => {
    const { loss, grads } = namedGrads(() => tf.tidy(() => block.forward(x, { causal: true }).square().mean<tf.Scalar>()), params);
    opt.applyGradients(grads);
    disposeGrads(grads);
    finish(loss);
  };
  return {
    run: c.exec === 'graph' ? () => withDeferredExecution(step) : step,
    dispose: () => {
      opt.dispose();
      block.dispose();
      done();
    },
  };
}

/**
 * A kernel = stride patch conv as our PatchEmbed computes it: forward = patchify(x) × Wᵀ; the filter
 * gradient = dyᵀ × patches; the input gradient = dy × W, un-patchified (what autodiff of patchify does).
 * PyTorch's side of the same case names runs its conv kernels.
 */
function patchConvCase(c: Extract<CaseSpec, { x: unknown }>, rnd: (shape: number[]) => tf.Tensor, done: () => void): { run: () => void; dispose: () => void } {
  const [n, h, w, ci] = c.x;
  const [p, , , co] = c.f;
  const [gh, gw] = [h / p, w / p];
  const x = rnd(c.x);
  const wt = rnd([co, ci * p * p]); // [D, C·p·p]: the PyTorch weight [D, C, p, p] flattened, as PatchEmbed holds it
  const dy = rnd([n * gh * gw, co]);
  const patches = () => patchify(x, p, 'channelsLast').reshape([n * gh * gw, ci * p * p]); // [B, N, C·p·p] -> [B·N, C·p·p]
  if (c.kind === 'conv_fwd') return { run: () => finish(tf.tidy(() => tf.matMul(patches(), wt, false, true))), dispose: done };
  if (c.kind === 'conv_bwd_filter') return { run: () => finish(tf.tidy(() => tf.matMul(dy, patches(), true, false))), dispose: done };
  return {
    run: () =>
      finish(
        tf.tidy(() =>
          tf
            .matMul(dy, wt) // [B·N, D] x [D, C·p·p] -> [B·N, C·p·p]
            .reshape([n, gh, gw, ci, p, p]) // -> [B, gh, gw, C, p, p]
            .transpose([0, 1, 4, 2, 5, 3]) // -> [B, gh, p, gw, p, C]
            .reshape([n, h, w, ci]),
        ),
      ), // -> [B, H, W, C]
    dispose: done,
  };
}
