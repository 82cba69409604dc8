/**
 * Durations in specs ('30s', '2h', '1 minute', '1.5 hours'): the subset of the `ms` format that
 * Temporal accepts for its timeouts and retry intervals, with a unit always required.
 * Pure (no imports).
 */

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
  weeks: 604_800_000,
};

/** The JSON Schema / zod pattern of a duration (units as in UNITS, case-insensitive). */
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?|\.\d+) ?(ms|msecs?|milliseconds?|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$/i;

/** Milliseconds of a duration string, or undefined when it is not one (or not positive). */
export function durationMs(text: string): number | undefined {
  const m = DURATION_PATTERN.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? NaN);
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

export const DURATION_HINT = "a duration with a unit, e.g. '500ms', '30s', '5m', '2h', '1 minute'";
