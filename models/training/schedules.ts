/**
 * Learning-rate schedules as pure functions of the step (or epoch), so a resumed run recomputes the
 * exact lr from its step counter with no scheduler state to save.
 *
 *   warmupCosine  RAR (`get_cosine_schedule_with_warmup` with end_lr): linear warmup from
 *                 warmupStartLr to baseLr over warmupSteps, then half-cosine to endLr at totalSteps.
 *   timmCosine    timm CosineLRScheduler as the tokenizer uses it, evaluated per epoch: linear warmup
 *                 from warmupLrInit over warmupT epochs, then cosine over t (not t − warmupT unless
 *                 warmupPrefix) from baseLr down to minLr at tInitial, flat afterwards.
 *   perEpoch      turns an epoch schedule into a step schedule (the lr changes at epoch boundaries,
 *                 like `scheduler.step(epoch + 1)` after each epoch).
 *   delayed       holds `before` until step `start`, then runs the schedule from 0 (the discriminator's
 *                 scheduler is only stepped once the GAN loss switches on).
 */
import { z } from 'zod';

export type LrSchedule = (t: number) => number;

export function constant(lr: number): LrSchedule {
  return () => lr;
}

export function warmupCosine(o: { baseLr: number; endLr?: number; warmupSteps: number; totalSteps: number; warmupStartLr?: number }): LrSchedule {
  const endLr = o.endLr ?? 0;
  const start = o.warmupStartLr ?? 0;
  return (step) => {
    if (step < o.warmupSteps) return start + ((o.baseLr - start) * step) / Math.max(1, o.warmupSteps);
    const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.totalSteps - o.warmupSteps));
    return endLr + (o.baseLr - endLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

export function timmCosine(o: {
  baseLr: number;
  minLr: number;
  tInitial: number;
  warmupT?: number;
  warmupLrInit?: number;
  warmupPrefix?: boolean;
}): LrSchedule {
  const warmupT = o.warmupT ?? 0;
  const w0 = o.warmupLrInit ?? 0;
  return (t) => {
    if (t < warmupT) return w0 + (t * (o.baseLr - w0)) / warmupT;
    const tc = o.warmupPrefix ? t - warmupT : t;
    if (tc >= o.tInitial) return o.minLr; // cycle_limit = 1
    return o.minLr + 0.5 * (o.baseLr - o.minLr) * (1 + Math.cos((Math.PI * tc) / o.tInitial));
  };
}

export function perEpoch(epochSchedule: LrSchedule, stepsPerEpoch: number): LrSchedule {
  return (step) => epochSchedule(Math.floor(step / stepsPerEpoch));
}

export function delayed(schedule: LrSchedule, start: number, before: number): LrSchedule {
  return (t) => (t < start ? before : schedule(t - start));
}

/** Schedule config as it appears in stage configs (units: optimizer steps unless `perEpoch`). */
export const ScheduleConfig = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('constant'), lr: z.number().positive() }),
  z.object({
    kind: z.literal('warmup-cosine'),
    baseLr: z.number().positive(),
    endLr: z.number().nonnegative().default(0),
    warmupSteps: z.number().int().nonnegative(),
    totalSteps: z.number().int().positive(),
    warmupStartLr: z.number().nonnegative().default(0),
  }),
  z.object({
    kind: z.literal('timm-cosine'),
    baseLr: z.number().positive(),
    minLr: z.number().nonnegative(),
    epochs: z.number().int().positive(),
    warmupEpochs: z.number().int().nonnegative().default(0),
    warmupLrInit: z.number().nonnegative().default(0),
    warmupPrefix: z.boolean().default(false),
    stepsPerEpoch: z.number().int().positive(),
  }),
]);
export type ScheduleConfig = z.infer<typeof ScheduleConfig>;

export function scheduleFromConfig(c: ScheduleConfig): LrSchedule {
  switch (c.kind) {
    case 'constant':
      return constant(c.lr);
    case 'warmup-cosine':
      return warmupCosine(c);
    case 'timm-cosine':
      return perEpoch(
        timmCosine({
          baseLr: c.baseLr,
          minLr: c.minLr,
          tInitial: c.epochs,
          warmupT: c.warmupEpochs,
          warmupLrInit: c.warmupLrInit,
          warmupPrefix: c.warmupPrefix,
        }),
        c.stepsPerEpoch,
      );
  }
}
