/**
 * `--profile`: where one of our steps spends its time, by tfjs kernel type. tf.profile runs the step
 * once with every kernel timed to completion, so the numbers add up to more than a normal step; the
 * counts are exact and are often the tell (thousands of tiny kernels from one op's gradient).
 */
import * as tf from '@tensorflow/tfjs';

export interface OpProfile {
  op: string;
  count: number;
  ms: number;
}

/** Kernel types of one call of `fn`, most total time first (all of them; callers cut). */
export async function profileByOp(fn: () => void | Promise<void>): Promise<{ kernels: number; ops: OpProfile[] }> {
  const info = await tf.profile(fn);
  const by = new Map<string, OpProfile>();
  for (const k of info.kernels) {
    const e = by.get(k.name) ?? { op: k.name, count: 0, ms: 0 };
    e.count++;
    e.ms += Number(k.kernelTimeMs) || 0;
    by.set(k.name, e);
  }
  return { kernels: info.kernels.length, ops: [...by.values()].sort((a, b) => b.ms - a.ms) };
}

/** Log lines: `    Slice  2186  811.0 ms`, the top `n` kinds. */
export function formatProfile(p: { kernels: number; ops: OpProfile[] }, n = 12): string[] {
  const total = p.ops.reduce((a, o) => a + o.ms, 0);
  return [
    `    ${p.kernels} kernels, ${total.toFixed(1)} ms kernel time; top ${Math.min(n, p.ops.length)} by time:`,
    ...p.ops.slice(0, n).map((o) => `    ${o.op.padEnd(24)} ${String(o.count).padStart(6)} ${o.ms.toFixed(1).padStart(9)} ms`),
  ];
}
