/**
 * Interleaved A/B timing for the in-process benches (bench/deferred-ab.ts, bench/kernel-ab.ts,
 * bench/native-ops-ab.ts): every side runs once per round, in an order rotated each round so no side always
 * follows the same one, and load changes on a shared machine hit all sides alike. The first `warmup` rounds
 * (learning, graph building) are not timed. Medians of wall and process CPU ms per run, rounded to 0.1.
 */
export interface AbSide {
  /** Called before the side's run (e.g. switching a feature on or off). */
  before?: () => void;
  run: () => unknown;
  /** Called after the side's run, also when it throws. */
  after?: () => void;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] as number;
const round = (x: number) => Math.round(x * 10) / 10;

export async function abRounds<K extends string>(sides: Record<K, AbSide>, reps: number, warmup = 4): Promise<Record<K, { ms: number; cpuMs: number }>> {
  const names = Object.keys(sides) as K[];
  const wall = new Map<K, number[]>(names.map((n) => [n, []]));
  const cpu = new Map<K, number[]>(names.map((n) => [n, []]));
  for (let i = 0; i < warmup + reps; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length] as K;
      const side = sides[name];
      side.before?.();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      try {
        await side.run();
      } finally {
        side.after?.();
      }
      const dt = performance.now() - t0;
      const c = process.cpuUsage(c0);
      if (i < warmup) continue;
      wall.get(name)!.push(dt);
      cpu.get(name)!.push((c.user + c.system) / 1000);
    }
  }
  return Object.fromEntries(names.map((n) => [n, { ms: round(median(wall.get(n)!)), cpuMs: round(median(cpu.get(n)!)) }])) as Record<
    K,
    { ms: number; cpuMs: number }
  >;
}
