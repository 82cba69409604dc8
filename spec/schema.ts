/**
 * zod schemas of the YAML a user writes (before defaults are resolved), and the built-in defaults.
 * Stage `config` and `sweep` are typed `unknown` here: the loader validates them separately so it
 * can use the stage kind's own schema and accept both sweep forms. Pure.
 */
import { z } from 'zod';
import { parseMemory } from '../core/resources';
import { DURATION_HINT, DURATION_PATTERN, durationMs } from './duration';
import { API_VERSION, type RetrySpec, type TimeoutSpec } from './types';

/** Stages run on the CPU workers' queue unless they say otherwise (GPU stages set queue: gpu). */
export const DEFAULT_QUEUE = 'cpu';

export const BUILTIN_RETRY: RetrySpec = {
  maximumAttempts: 3, // transient failures (network, preempted worker) deserve a second chance; more hides bugs
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
};

export const BUILTIN_TIMEOUTS: TimeoutSpec = {
  startToClose: '2h', // long enough for a real training stage; set it per stage for longer ones
  heartbeat: '2m', // a worker that has not reported for 2 minutes is presumed dead
};

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
export const identifier = (what: string) => z.string().regex(IDENT, { error: `${what} must start with a letter or _ and use letters, digits, _ and -` });

export const duration = z
  .string({ error: `expected ${DURATION_HINT}` })
  .regex(DURATION_PATTERN, { error: (iss) => `"${String(iss.input)}" is not ${DURATION_HINT}`, abort: true })
  .refine((s) => durationMs(s) !== undefined, { error: 'a duration must be greater than 0' });

export const retrySchema = z.strictObject({
  maximumAttempts: z.int().min(1).optional(),
  initialInterval: duration.optional(),
  backoffCoefficient: z.number().min(1).optional(),
  maximumInterval: duration.optional(),
});

export const timeoutsSchema = z.strictObject({
  startToClose: duration.optional(),
  heartbeat: duration.optional(),
});

/**
 * What a stage needs from the worker that runs it (core/resources.ts): `run` refuses a stage no live
 * worker of its queue offers enough for, and a worker refuses one it cannot host. Not part of the
 * cache key: where a stage runs does not change what it computes.
 */
export const resourcesSchema = z.strictObject({
  gpus: z.int({ error: 'gpus is a whole number of GPUs (0, 1, 2, …)' }).min(0).optional(),
  memory: z
    .union([z.number(), z.string()], { error: 'memory is a size such as 16GiB or 512MiB' })
    .superRefine((v, ctx) => {
      const m = parseMemory(v);
      if ('error' in m) ctx.addIssue({ code: 'custom', message: m.error });
    })
    .optional(),
  cpus: z.number({ error: 'cpus is a number of CPU cores, e.g. 4 or 0.5' }).positive({ error: 'cpus must be greater than 0' }).optional(),
});

export const defaultsSchema = z.strictObject({
  queue: identifier('a queue name').optional(),
  retry: retrySchema.optional(),
  timeouts: timeoutsSchema.optional(),
  resources: resourcesSchema.optional(),
});

export const inputRef = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*\.[A-Za-z_][A-Za-z0-9_-]*$/, {
  error: (iss) => `"${String(iss.input)}" is not an input reference: use '<stageId>.<outputName>'`,
});

/** A stage in the map form (`stages: {train: {...}}`); config is checked against its kind's schema. */
export const stageBodySchema = z.strictObject({
  kind: z.string(),
  config: z.unknown().optional(),
  inputs: z.record(identifier('an input name'), inputRef).optional(),
  queue: identifier('a queue name').optional(),
  resources: resourcesSchema.optional(),
  retry: retrySchema.optional(),
  timeouts: timeoutsSchema.optional(),
  checkpointEvery: z.int().min(0).optional(),
  deterministic: z.boolean().optional(),
  seed: z.int().optional(),
});

/** A stage in the list form (`stages: [{id: train, ...}]`). */
export const stageItemSchema = z.strictObject({ id: identifier('a stage id'), ...stageBodySchema.shape });

export const rangeSchema = z.strictObject({ start: z.number(), stop: z.number(), step: z.number() });

/** `sweep: {mode, axes: [...]}` — the canonical form. */
export const sweepAxisSchema = z.strictObject({
  path: z.string(),
  values: z.array(z.json()).min(1).optional(),
  range: rangeSchema.optional(),
});
export const sweepAxesSchema = z.strictObject({
  mode: z.enum(['grid', 'zip']).optional(),
  axes: z.array(sweepAxisSchema).min(1),
});

/** `sweep: {grid: {path: values | {start, stop, step}}}` (or `zip:`) — the short form. */
export const sweepMapValueSchema = z.union([z.array(z.json()).min(1), rangeSchema]);
export const sweepMapSchema = z.strictObject({
  grid: z.record(z.string(), sweepMapValueSchema).optional(),
  zip: z.record(z.string(), sweepMapValueSchema).optional(),
});

export const topLevelSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION, { error: `apiVersion must be "${API_VERSION}"` }),
  name: identifier('the pipeline name'),
  defaults: defaultsSchema.optional(),
  stages: z.unknown(),
  sweep: z.unknown().optional(),
  failurePolicy: z.enum(['failFast', 'continue']).optional(),
  concurrency: z.record(identifier('a queue name'), z.int().min(1)).optional(),
});
