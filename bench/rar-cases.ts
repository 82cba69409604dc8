/**
 * The RAR bench's workloads, shared by our side (bench/rar-ours.ts, a child process per thread count) and
 * described as plain JSON to the PyTorch port (bench/torch/rar_bench.py on bench/torch/rar_port.py):
 *
 *   train       one generator.train step: random orders (ratio 1), label dropout, dropout 0.1, CE over
 *               rows 0..L−1, backward, global-norm clip 1.0, AdamW (0.9, 0.96, wd 0.03, RAR groups)
 *   sample-kv   a whole raster sampling run of `batch` images with [class; null] CFG, one token per step
 *               against KV caches, temperature, multinomial
 *   sample-full the same without caches (every step recomputes the whole prefix; the final layer and lm
 *               head run on the one row sampling reads, on both sides)
 *
 * Weights and ids are random: the work per step does not depend on their values.
 */
import * as tf from '@tensorflow/tfjs';
import { withDeferredExecution } from '../compute/deferred-execution';
import { Rar } from '../models/rar';
import { RarConfig } from '../models/rar-config';
import { sampleRar } from '../models/rar-sampling';
import { RarTrainer } from '../models/training/rar-trainer';
import { Rng, RngStreams } from '../models/training/rng';

export interface RarSize {
  label: string;
  batch: number;
  model: RarConfig;
}

export interface RarCaseSpec {
  kind: 'train' | 'sample-kv' | 'sample-full';
  name: string;
  size: RarSize;
  sampling: { guidanceScale: number; guidanceScalePow: number; temperature: number };
  adamw: { lr: number; beta1: number; beta2: number; weightDecay: number };
  /** Train cases: `graph` runs each step under withDeferredExecution (compute/deferred-execution.ts). */
  exec?: 'eager' | 'graph';
  /** A path no stage runs, timed to show what the stages' path gains over it (BenchCase.reference). */
  reference?: string;
}

function size(label: string, batch: number, D: number, depth: number, heads: number, L: number, K: number, C: number): RarSize {
  return {
    label,
    batch,
    model: RarConfig.parse({ hiddenSize: D, numLayers: depth, numHeads: heads, intermediateSize: 4 * D, imageSeqLen: L, codebookSize: K, numClasses: C }),
  };
}

export const RAR_SIZES = {
  smoke: size('smoke w128 d4 L64 K512', 32, 128, 4, 4, 64, 512, 10),
  mid: size('mid w256 d8 L256 K1024', 8, 256, 8, 8, 256, 1024, 100),
} as const;

export function rarCases(quick: boolean): RarCaseSpec[] {
  const sampling = { guidanceScale: 6.0, guidanceScalePow: 1.15, temperature: 1.02 }; // RAR-B's RobusTok values (§6)
  const adamw = { lr: 1e-4, beta1: 0.9, beta2: 0.96, weightDecay: 0.03 };
  const smoke = RAR_SIZES.smoke;
  const sampleSize = { ...smoke, batch: 8 };
  const out: RarCaseSpec[] = [{ kind: 'train', name: `train ${smoke.label} B${smoke.batch}`, size: smoke, sampling, adamw }];
  if (!quick) out.push({ kind: 'train', name: `train ${RAR_SIZES.mid.label} B${RAR_SIZES.mid.batch}`, size: RAR_SIZES.mid, sampling, adamw });
  out.push({ kind: 'sample-kv', name: `sample kv-cache ${smoke.label} ${sampleSize.batch} images`, size: sampleSize, sampling, adamw });
  // a bigger model batch, as generator.sample runs: each decode step's kernels get more rows to work on
  const sampleBig = { ...smoke, batch: 32 };
  if (!quick) out.push({ kind: 'sample-kv', name: `sample kv-cache ${smoke.label} ${sampleBig.batch} images`, size: sampleBig, sampling, adamw });
  out.push({
    kind: 'sample-full',
    name: `sample no-cache ${smoke.label} ${sampleSize.batch} images`,
    size: sampleSize,
    sampling,
    adamw,
    // sampleRar's kvCache: false exists for the tests that check the cached path against it; no stage or spec can select it
    reference: `full-prefix recompute, only tests run it; generator.sample and posttrain.pairs run "sample kv-cache ${smoke.label} ${sampleSize.batch} images"`,
  });
  return out;
}

/** Tokens one run of the case processes (train: B·L targets; sampling: B·L generated ids). */
export function tokensPerRun(c: RarCaseSpec): number {
  return c.size.batch * c.size.model.imageSeqLen;
}

/** Builds the model (and optimizer) of one case; `run` does one step or one sampling run and waits for it. */
export function oursRarCase(c: RarCaseSpec): { run: () => Promise<void>; dispose: () => void; parameters?: Map<string, tf.Variable> } {
  const cfg = c.size.model;
  const model = new Rar(cfg, Rng.fromSeed(1));
  // adaLN-zero makes a fresh model trivial; random weights give realistic logits for sampling
  const rng = Rng.fromSeed(2);
  for (const v of model.parameters().values()) v.assign(tf.tidy(() => tf.tensor(rng.fillNormal(new Float32Array(v.size), 0, 0.02), v.shape)));
  const B = c.size.batch;
  const L = cfg.imageSeqLen;
  const classes = Int32Array.from({ length: B }, (_, i) => i % cfg.numClasses);
  if (c.kind !== 'train') {
    return {
      run: async () => {
        await sampleRar(model, classes, {
          guidanceScale: c.sampling.guidanceScale,
          guidanceScalePow: c.sampling.guidanceScalePow,
          randomizeTemperature: c.sampling.temperature,
          seed: 1,
          kvCache: c.kind === 'sample-kv',
        });
      },
      dispose: () => model.dispose(),
    };
  }
  const trainer = new RarTrainer(model, {
    beta1: c.adamw.beta1,
    beta2: c.adamw.beta2,
    weightDecay: c.adamw.weightDecay,
    maxGradNorm: 1,
    anneal: { start: 1e9, end: 1e9 },
    rng: new RngStreams(3),
  });
  const tokens = Int32Array.from({ length: B * L }, () => rng.int(cfg.codebookSize));
  let step = 0;
  return {
    run: () => {
      const s = step++;
      if (c.exec === 'graph') withDeferredExecution(() => trainer.step(tokens, classes, { lr: c.adamw.lr, step: s }));
      else trainer.step(tokens, classes, { lr: c.adamw.lr, step: s });
      return Promise.resolve();
    },
    parameters: model.parameters(),
    dispose: () => {
      trainer.dispose();
      model.dispose();
    },
  };
}
