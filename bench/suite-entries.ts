/**
 * What the model suites (inception, pretokenize, tokenizer, RAR) share when they compare one case of ours
 * against PyTorch: the thread counts, the alternating order of the two sides, and the common fields of the
 * BenchCase they report. Each suite keeps its own notes, parity checks and log line.
 */
import type { BenchCase, BenchContext } from './run';
import type { StepTiming } from './threads';

/** The PyTorch side's JSON answer (bench/torch/*.py, bench/fid_torch_inception.py). */
export interface TorchOutput<T extends StepTiming = StepTiming> {
  torch: string;
  threads: number;
  results: Record<string, T>;
}

/** Our side's JSON answer (bench/*-ours.ts). */
export interface OursOutput<R> {
  backend: string;
  results: Record<string, R>;
}

/** All cores and one thread on tfjs-node; wasm and cpu run single-threaded in Node, so there only one thread is like for like. */
export function threadSettings(ctx: BenchContext): number[] {
  const cores = ctx.backend.cpu.cores;
  return ctx.backend.backend === 'tensorflow' && cores > 1 ? [cores, 1] : [1];
}

/**
 * Runs our side and PyTorch's back to back, swapping which goes first on every call, so that neither side
 * always meets the machine warmer or busier than the other.
 */
export function alternatingSides(): <O, T>(oursSide: () => O, torchSide: () => T) => { ours: O; torch: T } {
  let order = 0;
  return <O, T>(oursSide: () => O, torchSide: () => T) => {
    if (order++ % 2 === 0) {
      const ours = oursSide();
      return { ours, torch: torchSide() };
    }
    const torch = torchSide();
    return { ours: oursSide(), torch };
  };
}

/** Items one run handles, for the per-second rates: images, and for token models tokens. */
export interface PerRun {
  images?: number;
  tokens?: number;
}

/**
 * The fields every model case reports, in the order the suites have always written them; suite-specific
 * fields (parity, note) go after. `torch` is null when PyTorch is absent.
 */
export function comparedCase(
  head: { suite: string; name: string; threads: number },
  ours: StepTiming,
  torch: StepTiming | null,
  perRun: PerRun,
  ctx: BenchContext,
  load1: number,
): BenchCase {
  const t = torch?.median_ms ?? null;
  const rate = (n: number, ms: number) => (n * 1000) / ms;
  return {
    ...head,
    ours_ms: ours.median_ms,
    torch_ms: t,
    ratio: t ? ours.median_ms / t : null,
    gflops: null,
    peak_gflops: ctx.peakGflops,
    ...(perRun.images !== undefined ? { ours_images_per_s: rate(perRun.images, ours.median_ms), torch_images_per_s: t ? rate(perRun.images, t) : null } : {}),
    ...(perRun.tokens !== undefined ? { ours_tokens_per_s: rate(perRun.tokens, ours.median_ms), torch_tokens_per_s: t ? rate(perRun.tokens, t) : null } : {}),
    ours_cores: ours.cores,
    torch_cores: torch?.cores ?? null,
    ours_range_ms: [ours.min_ms, ours.max_ms],
    torch_range_ms: torch ? [torch.min_ms, torch.max_ms] : null,
    load1,
  };
}
