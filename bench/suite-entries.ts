/**
 * What the model suites (inception, pretokenize, tokenizer, RAR) share when they compare one case of ours
 * against PyTorch: the thread counts, the alternating order of the two sides, and the common fields of the
 * BenchCase they report. Each suite keeps its own notes, parity checks and log line.
 */
import type { BenchCase, BenchContext, CaseRound } from './run';
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

/**
 * Times a case `rounds` times (`--rounds`), each round both sides back to back in the alternating order,
 * and returns the round whose ratio is the median (ours_ms when there is no PyTorch), so the reported
 * times and ratio come from one round and agree with each other. With more than one round the case also
 * reports every round (BenchCase.rounds): on this shared machine the same PyTorch case moved by up to 2×
 * between runs minutes apart, and the spread of the rounds shows how far one figure can be trusted.
 */
export function inRounds<O extends StepTiming, T extends StepTiming>(
  rounds: number,
  bothSides: ReturnType<typeof alternatingSides>,
  oursSide: () => O,
  torchSide: () => T | null,
): { ours: O; torch: T | null; rounds?: CaseRound[] } {
  const all: { ours: O; torch: T | null }[] = [];
  for (let r = 0; r < rounds; r++) all.push(bothSides(oursSide, torchSide));
  return pickMedianRound(
    all,
    (x) => x.ours.median_ms,
    (x) => x.torch?.median_ms ?? null,
  );
}

/** The round with the median ratio (ties: the lower), plus every round's figures when there are several. */
export function pickMedianRound<R>(all: R[], oursMs: (r: R) => number, torchMs: (r: R) => number | null): R & { rounds?: CaseRound[] } {
  const summary = all.map((r): CaseRound => {
    const t = torchMs(r);
    return { ours_ms: oursMs(r), torch_ms: t, ratio: t ? oursMs(r) / t : null };
  });
  const key = (i: number) => summary[i]?.ratio ?? summary[i]?.ours_ms ?? 0;
  const order = all.map((_, i) => i).sort((a, b) => key(a) - key(b));
  const mid = order[Math.floor((order.length - 1) / 2)] as number;
  return { ...(all[mid] as R), ...(all.length > 1 ? { rounds: summary } : {}) };
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
  rounds?: CaseRound[],
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
    ...(rounds ? { rounds } : {}),
  };
}
