/**
 * The check `run` and `resume` make before starting a run: does some live worker of each stage's
 * queue offer what the stage asks (`resources`)? Temporal gives a task to whichever worker of the
 * queue polls first and has no notion of resources, so a stage nobody can host would otherwise wait
 * in its queue forever. A queue is a pool: the check is "at least one worker of the pool is big
 * enough"; a pool mixing big and small workers is warned about, and the worker-side guard
 * (activities/resource-guard.ts) stops a stage that lands on a small one.
 */
import { PipelineError } from '../core/errors';
import { describeOffer, describeRequest, describeShortfalls, isEmptyRequest, meets, shortfalls, type ResourceRequest } from '../core/resources';
import type { WorkerAd } from './worker-directory';

export interface PlacedStage {
  /** The stage id (every arm of a stage asks the same resources). */
  readonly id: string;
  readonly queue: string;
  readonly resources: ResourceRequest;
}

export interface PlacementVerdict {
  /** Stages no live worker of their queue can host, with that queue's workers (maybe none). */
  readonly unsatisfiable: readonly { stage: PlacedStage; workers: readonly WorkerAd[] }[];
  /** Stages only some workers of their queue can host (the others will refuse them). */
  readonly mixed: readonly { stage: PlacedStage; able: readonly WorkerAd[]; unable: readonly WorkerAd[] }[];
  /** Queues the plan uses that no live worker polls. */
  readonly unpolled: readonly string[];
}

/** One entry per stage id, first run's queue and resources (arms cannot sweep either). */
export function placedStages(runs: readonly { stageId: string; queue: string; resources: ResourceRequest }[]): PlacedStage[] {
  const byId = new Map<string, PlacedStage>();
  for (const r of runs) if (!byId.has(r.stageId)) byId.set(r.stageId, { id: r.stageId, queue: r.queue, resources: r.resources });
  return [...byId.values()];
}

export function checkPlacement(stages: readonly PlacedStage[], workers: readonly WorkerAd[]): PlacementVerdict {
  const unsatisfiable: { stage: PlacedStage; workers: WorkerAd[] }[] = [];
  const mixed: { stage: PlacedStage; able: WorkerAd[]; unable: WorkerAd[] }[] = [];
  const queues = [...new Set(stages.map((s) => s.queue))].sort();
  const ofQueue = (q: string) => workers.filter((w) => w.queues.includes(q));
  const unpolled = queues.filter((q) => ofQueue(q).length === 0);
  for (const s of stages) {
    const pool = ofQueue(s.queue);
    // An empty pool is reported once per queue (unpolled): a worker may still come.
    if (isEmptyRequest(s.resources) || pool.length === 0) continue;
    const able = pool.filter((w) => meets(w.offer, s.resources));
    if (able.length === 0) unsatisfiable.push({ stage: s, workers: pool });
    else if (able.length < pool.length) mixed.push({ stage: s, able, unable: pool.filter((w) => !able.includes(w)) });
  }
  return { unsatisfiable, mixed, unpolled };
}

/** The queue name as a user passes it to `robustok worker --queue` (the prefix goes in --queue-prefix). */
function bare(queue: string, prefix: string): string {
  return prefix !== '' && queue.startsWith(prefix) ? queue.slice(prefix.length) : queue;
}

function workerCommand(queue: string, prefix: string, resources?: string): string {
  const p = prefix === '' ? '' : ` --queue-prefix ${prefix}`;
  return `robustok worker --queue ${bare(queue, prefix)}${p}${resources === undefined ? '' : ` --resources ${resources}`}`;
}

/** `gpus=1,memory=16GiB` from a request, for the --resources hint. */
function asFlag(r: ResourceRequest): string {
  return Object.entries(r)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${String(v).replace(/\s+/g, '')}`)
    .join(',');
}

/** RESOURCES_UNSATISFIABLE naming each stage, what it asks, what each worker of its queue offers, and the fixes. */
export function unsatisfiableError(v: PlacementVerdict, prefix: string): PipelineError | undefined {
  if (v.unsatisfiable.length === 0) return undefined;
  const parts = v.unsatisfiable.map(({ stage, workers }) => {
    const offers = workers.map((w) => `${w.name} offers ${describeOffer(w.offer)} (short: ${describeShortfalls(shortfalls(stage.resources, w.offer))})`);
    return `stage ${stage.id} asks ${describeRequest(stage.resources)} on queue ${bare(stage.queue, prefix)}, more than any live worker of that queue offers: ${offers.join('; ')}`;
  });
  const first = v.unsatisfiable[0]?.stage;
  const fix =
    first === undefined
      ? ''
      : `. Start a worker with more on a host that has it (${workerCommand(first.queue, prefix)}; \`--resources ${asFlag(first.resources)}\` if detection under-counts), or lower the stage's resources in the spec (or --set stages.${first.id}.resources.<name>=…)`;
  return new PipelineError('RESOURCES_UNSATISFIABLE', `${parts.join('. ')}${fix}`, {
    details: { stages: v.unsatisfiable.map(({ stage, workers }) => ({ stage: stage.id, queue: stage.queue, workers: workers.map((w) => w.name) })) },
  });
}

/** Lines for the user: queues nobody polls (the run would wait), and pools where only some workers fit a stage. */
export function placementWarnings(v: PlacementVerdict, prefix: string): string[] {
  const out: string[] = [];
  for (const q of v.unpolled)
    out.push(`warning: no live worker polls queue ${bare(q, prefix)}: its stages will wait until one starts (${workerCommand(q, prefix)})`);
  for (const { stage, able, unable } of v.mixed)
    out.push(
      `warning: stage ${stage.id} asks ${describeRequest(stage.resources)}: of queue ${bare(stage.queue, prefix)}'s workers only ${able.map((w) => w.name).join(', ')} can host it; ` +
        `${unable.map((w) => w.name).join(', ')} will refuse it and Temporal retries it (attempts count). Give such stages a queue of their own (queue: ${bare(stage.queue, prefix)}-large)`,
    );
  return out;
}
