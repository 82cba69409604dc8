/**
 * Seeded, counter-based random streams (Philox4x32-10, Salmon et al. 2011 — the generator PyTorch uses
 * on CUDA). A stream is a 64-bit key plus a block counter, so its whole state is a small JSON
 * ({key, counter, offset}) that a checkpoint can store: restoring it continues the exact sequence a
 * resumed run would have drawn. Named sub-streams (`RngStreams.stream('init')`, `'dropout'`, `'order'`)
 * get independent keys derived from the seed, so adding draws in one place never shifts another.
 */
import { PipelineError } from '../../core/errors';

export interface RngState {
  readonly algorithm: 'philox4x32-10';
  /** Two uint32 key words. */
  readonly key: readonly [number, number];
  /** Index of the next 128-bit block (a safe integer < 2^53; the high counter words stay 0). */
  readonly counter: number;
  /** Words already consumed from block `counter - 1` (0 = none buffered). */
  readonly offset: number;
}

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO32 = 4294967296;

/** High 32 bits of a 32×32→64 product from 16-bit halves (every partial product < 2^32, exact). */
function mulhi(a: number, b: number): number {
  const ah = a >>> 16;
  const al = a & 0xffff;
  const bh = b >>> 16;
  const bl = b & 0xffff;
  const lh = al * bh;
  const hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * One Philox4x32-10 block of counter `c` (4 words) under key (k0, k1), written into `out` (4 words;
 * may be `c`). Allocation-free, for loops that draw a block per few elements (dropout masks).
 */
export function philoxInto(c: ArrayLike<number>, k0: number, k1: number, out: Uint32Array): void {
  let c0 = c[0] as number;
  let c1 = c[1] as number;
  let c2 = c[2] as number;
  let c3 = c[3] as number;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** One Philox4x32-10 block: counter (4 words) and key (2 words) → 4 uint32 words. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  const out = new Uint32Array(4);
  philoxInto(counter, key[0] >>> 0, key[1] >>> 0, out);
  return [out[0] as number, out[1] as number, out[2] as number, out[3] as number];
}

/** FNV-1a over UTF-16 code units: only used to turn a stream name into key material. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A single random stream. Not thread-shared; cheap to create. */
export class Rng {
  private key: [number, number];
  private counter: number;
  private buf: [number, number, number, number] = [0, 0, 0, 0];
  private offset = 4; // 4 = buffer empty

  constructor(state: RngState) {
    validateState(state);
    this.key = [state.key[0] >>> 0, state.key[1] >>> 0];
    this.counter = state.counter;
    if (state.offset > 0) {
      // Re-derive the partially used block so the continuation is bit-identical.
      this.buf = this.block(state.counter - 1);
      this.offset = state.offset;
    }
  }

  /** A stream keyed directly by a numeric seed (0 ≤ seed < 2^53). */
  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new PipelineError('CONFIG_INVALID', `RNG seed must be a non-negative safe integer, got ${seed}`);
    return new Rng({ algorithm: 'philox4x32-10', key: [seed >>> 0, Math.floor(seed / TWO32) >>> 0], counter: 0, offset: 0 });
  }

  getState(): RngState {
    return { algorithm: 'philox4x32-10', key: [this.key[0], this.key[1]], counter: this.counter, offset: this.offset === 4 ? 0 : this.offset };
  }

  private block(index: number): [number, number, number, number] {
    return philox4x32([index >>> 0, Math.floor(index / TWO32) >>> 0, 0, 0], this.key);
  }

  /** Next uniform uint32. */
  nextUint32(): number {
    if (this.offset === 4) {
      this.buf = this.block(this.counter);
      this.counter++;
      this.offset = 0;
    }
    return this.buf[this.offset++] as number;
  }

  /** Uniform in the open interval (0, 1) with 32 bits of resolution (never 0, so log() is safe). */
  uniform(): number {
    return (this.nextUint32() + 0.5) / TWO32;
  }

  /** Integer in [0, n) without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > TWO32) throw new PipelineError('INTERNAL', `Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO32 - (TWO32 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Standard normal via Box–Muller; each call consumes exactly two words (no hidden cached value in the state). */
  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  fillUniform(out: Float32Array, low = 0, high = 1): Float32Array {
    for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  /** Fills with N(mean, std²); uses both Box–Muller outputs per pair of words. */
  fillNormal(out: Float32Array, mean = 0, std = 1): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.uniform()));
      const th = 2 * Math.PI * this.uniform();
      out[i] = mean + std * r * Math.cos(th);
      if (i + 1 < out.length) out[i + 1] = mean + std * r * Math.sin(th);
    }
    return out;
  }

  /**
   * N(0, std²) truncated to the absolute interval [a, b] by rejection, as PyTorch's
   * `nn.init.trunc_normal_(w, std=s)` and timm's `trunc_normal_` do: their a = −2, b = 2 are values,
   * not multiples of std. At the std 0.02 every reference model uses, the bounds sit 100 σ out, so
   * this is in effect a plain normal (bounding at ±2 σ instead shrinks the spread by 12%).
   */
  fillTruncNormal(out: Float32Array, std: number, a = -2, b = 2): Float32Array {
    if (!(a < 0 && b > 0)) throw new PipelineError('CONFIG_INVALID', `trunc-normal bounds [${a}, ${b}] must contain the mean 0`);
    for (let i = 0; i < out.length; i++) {
      let x: number;
      do x = std * this.normal();
      while (x < a || x > b);
      out[i] = x;
    }
    return out;
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i] as number;
      p[i] = p[j] as number;
      p[j] = t;
    }
    return p;
  }
}

/** The named streams of one run, all derived from one seed. Save/restore with getState()/fromState(). */
export class RngStreams {
  private readonly streams = new Map<string, Rng>();
  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new PipelineError('CONFIG_INVALID', `RNG seed must be a non-negative safe integer, got ${seed}`);
  }

  /** The stream for `name`, created on first use with a key derived from (seed, name). */
  stream(name: string): Rng {
    let s = this.streams.get(name);
    if (!s) {
      const [k0, k1] = philox4x32([fnv1a(name), name.length, 0x5eed5eed, 0], [this.seed >>> 0, Math.floor(this.seed / TWO32) >>> 0]);
      s = new Rng({ algorithm: 'philox4x32-10', key: [k0, k1], counter: 0, offset: 0 });
      this.streams.set(name, s);
    }
    return s;
  }

  getState(): { seed: number; streams: Record<string, RngState> } {
    const streams: Record<string, RngState> = {};
    for (const [name, s] of [...this.streams].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) streams[name] = s.getState();
    return { seed: this.seed, streams };
  }

  /**
   * Replaces every stream's state with the saved one, in place, so objects holding this RngStreams
   * (a trainer, a loader) continue from the checkpoint. Streams not in `state` start afresh.
   */
  restore(state: { seed: number; streams: Record<string, RngState> }): void {
    if (state.seed !== this.seed)
      throw new PipelineError('CHECKPOINT_MISMATCH', `the checkpoint's RNG seed is ${state.seed}, this run's is ${this.seed}: resume with the same seed`);
    this.streams.clear();
    for (const [name, s] of Object.entries(state.streams)) this.streams.set(name, new Rng(s));
  }

  static fromState(state: { seed: number; streams: Record<string, RngState> }): RngStreams {
    const out = new RngStreams(state.seed);
    for (const [name, s] of Object.entries(state.streams)) out.streams.set(name, new Rng(s));
    return out;
  }
}

function validateState(s: RngState): void {
  const okWord = (x: unknown) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < TWO32;
  if (
    s.algorithm !== 'philox4x32-10' ||
    !Array.isArray(s.key) ||
    s.key.length !== 2 ||
    !s.key.every(okWord) ||
    !Number.isSafeInteger(s.counter) ||
    s.counter < 0 ||
    !Number.isInteger(s.offset) ||
    s.offset < 0 ||
    s.offset > 3 ||
    (s.offset > 0 && s.counter === 0)
  ) {
    throw new PipelineError(
      'DATA_CORRUPT',
      `invalid RNG state ${JSON.stringify(s)}: expected {algorithm: 'philox4x32-10', key: [u32, u32], counter, offset 0..3}`,
    );
  }
}
