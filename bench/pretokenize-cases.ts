/**
 * The pretokenize bench's workloads (issue 12 "pretokenize throughput (images/s)"), shared by the suite
 * (bench/pretokenize.suite.ts), our side (bench/pretokenize-ours.ts) and the PyTorch side
 * (bench/torch/pretokenize_bench.py) as plain JSON.
 *
 * The tokenizer suite's `encode` cases time `encodeCodes` on ready tensors, one view per image. The
 * `tokenizer.pretokenize` stage does more per image: read and decode the file, ADM center crop (BOX
 * halving + bicubic), its mirror (two views, mode 'flip'), pack both into [-1, 1] NCHW, encode, and
 * write a jsonl line per view. A case here is one whole stage run over an ImageFolder on a
 * random-weight tokenizer artifact; the PyTorch side does the same steps the way upstream's
 * pretokenization does (Pillow decode and crop, the port's encoder under no_grad, json lines).
 *
 *   smoke  the smoke tokenizer (32 px) on 32 px PNGs (the smoke pipeline's synthetic data: no resize)
 *   mid    the mid tokenizer (64 px) on 500×375 JPEGs (ImageNet-like: decode, halve twice, bicubic)
 */
import { TOKENIZER_SIZES, type TokenizerSize } from './tokenizer-cases';

export interface PretokenizeCaseSpec {
  name: string;
  size: TokenizerSize;
  /** 'png32': synthetic 32 px PNGs; 'jpeg': 500×375 JPEGs. */
  data: 'png32' | 'jpeg';
  images: number;
  /** Views per tokenizer call (the stage's batchSize; its default is 64). */
  batchSize: number;
}

/** A case with the files the suite prepared for it. */
export interface PretokenizeCaseRun extends PretokenizeCaseSpec {
  /** Tokenizer artifact directory (tokenizer.json, model/ema.safetensors). */
  tokenizer: string;
  /** ImageFolder root holding `train/`. */
  dataset: string;
  /** Where a side leaves the shard of its last run: `<out>/<side>.jsonl`. */
  out: string;
}

export interface PretokenizeBenchInput {
  cases: PretokenizeCaseRun[];
  reps: number;
  warmup: number;
}

export function pretokenizeCases(quick: boolean): PretokenizeCaseSpec[] {
  const images = quick ? 32 : 128;
  return [
    { name: `pretokenize ${images} png32 → smoke tokenizer`, size: TOKENIZER_SIZES.smoke, data: 'png32', images, batchSize: 64 },
    { name: `pretokenize ${images} jpeg 500x375 → mid tokenizer`, size: TOKENIZER_SIZES.mid, data: 'jpeg', images, batchSize: 64 },
  ];
}
