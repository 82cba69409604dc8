/**
 * The values of one sweep axis. Ranges are inclusive of `stop` when it lies on the grid
 * (0.1..0.5 step 0.1 → 0.1, 0.2, 0.3, 0.4, 0.5) and computed as start + i·step rounded to 12
 * significant digits, so float steps do not accumulate error (0.30000000000000004 → 0.3).
 * Pure (no Node builtins): plan/ uses it.
 */
import type { Json } from '../core/canonical-json';
import type { SweepAxis } from './types';

/** More values than this on one axis is almost certainly a typo in a range. */
export const MAX_AXIS_VALUES = 10_000;

export interface RangeSpec {
  readonly start: number;
  readonly stop: number;
  readonly step: number;
}

/** Number of values of a range, or a reason it has none. */
export function rangeCount(r: RangeSpec): { ok: true; value: number } | { ok: false; error: string } {
  if (![r.start, r.stop, r.step].every(Number.isFinite)) return { ok: false, error: 'start, stop and step must be finite numbers' };
  if (r.step === 0) return { ok: false, error: 'step must not be 0' };
  const span = (r.stop - r.start) / r.step;
  if (span < -1e-9) return { ok: false, error: `step ${r.step} moves away from stop ${r.stop}: use a ${r.step > 0 ? 'negative' : 'positive'} step` };
  const n = Math.floor(span + 1e-9) + 1;
  if (n > MAX_AXIS_VALUES) return { ok: false, error: `range has ${n} values, more than ${MAX_AXIS_VALUES}` };
  return { ok: true, value: n };
}

/** Values of a range (empty if the range is invalid: the spec loader reports that). */
export function rangeValues(r: RangeSpec): number[] {
  const n = rangeCount(r);
  if (!n.ok) return [];
  return Array.from({ length: n.value }, (_, i) => roundFloat(r.start + i * r.step));
}

export function axisValues(axis: SweepAxis): readonly Json[] {
  return 'values' in axis ? axis.values : rangeValues(axis.range);
}

function roundFloat(x: number): number {
  const r = Number(x.toPrecision(12));
  return Object.is(r, -0) ? 0 : r;
}
