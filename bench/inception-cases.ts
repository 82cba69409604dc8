/**
 * The inception bench's workloads (issue 12 "Inception features (images/s)"), shared by the suite
 * (bench/inception.suite.ts), our side (bench/inception-ours.ts) and the PyTorch side
 * (bench/fid_torch_inception.py, stdin mode) as plain JSON.
 *
 * A case is one feature-extraction batch as `extractInceptionFeatures` (models/inception-features.ts)
 * runs it for eval.fid: uint8-range NHWC images at `size` px, bilinear resize to 299, the network, and
 * the features read back. Weights are the seeded random ones (randomInceptionTensors), written once to
 * a safetensors file both sides load: the work does not depend on their values, and the parity check
 * needs the same ones on both sides.
 *
 * Parity runs on 299×299 images (no resize on either side: the two resizes differ on purpose, ours is
 * TF1's legacy bilinear as the ADM evaluator's graph, PyTorch's is half-pixel), so only the network is
 * compared.
 */
import { FID_BATCH_SIZE } from '../stages/eval-fid';

export interface InceptionCaseSpec {
  name: string;
  /** Images per forward call. */
  batch: number;
  /** Side of the square input images before the network's resize to 299. */
  size: number;
}

/** Files the suite writes once per run and both sides read (and write their parity features to). */
export interface InceptionBenchFiles {
  /** Random weights, safetensors with the converted FID Inception's names. */
  weights: string;
  /** uint8 [n, 299, 299, 3] .npy. */
  parityImages: string;
  /** Where a side writes its pool_3 features of the parity images: float32 [n, 2048] .npy. */
  parityOut: string;
}

/** stdin of both sides (the PyTorch side also gets `threads`). */
export interface InceptionBenchInput {
  cases: InceptionCaseSpec[];
  reps: number;
  warmup: number;
  files: InceptionBenchFiles;
}

export const INCEPTION_WEIGHTS_SEED = 1;
export const PARITY_IMAGES = 2;

/** 256 px: what the generator samples at (ImageNet 256); batch: the eval.fid default (50), 8 with --quick. */
export function inceptionCases(quick: boolean): InceptionCaseSpec[] {
  const batch = quick ? 8 : FID_BATCH_SIZE;
  return [{ name: `features 256px B${batch}`, batch, size: 256 }];
}

/** Deterministic uint8 pixels for the parity check (a multiplicative hash: no structure either side could exploit). */
export function parityPixels(n: number): Uint8Array {
  return Uint8Array.from({ length: n * 299 * 299 * 3 }, (_, i) => (Math.imul(i, 2654435761) >>> 24) & 255);
}
