/**
 * Which workers are alive and what each offers, kept by the Temporal server itself.
 *
 * Why Temporal and not a record per worker in the artifact store: the server already knows which
 * processes poll (DescribeTaskQueue lists every poller of a queue with its identity and last poll
 * time, for the last 5 minutes), for exactly the server, namespace and queue prefix a run goes to,
 * whatever host the worker is on and whichever store it writes to; nothing has to be written
 * periodically or cleaned up after a crash (a dead process stops polling and ages out); and the Web UI
 * shows it (task queue page → Pollers). A store record would need its own heartbeat and TTL,
 * and would mix up workers of different servers that share one store.
 *
 * Each worker process encodes what it offers in its identity (`robustok-worker/1 queues=… gpus=…`).
 * It is read from a queue of its own, `<prefix>robustok-workers`, polled by a tiny extra worker per
 * process that is never given a task: a stage queue's pollers are not enough, because a worker whose
 * stage slots are all busy (a 3-day training stage) stops polling that queue and would drop out of
 * the list, and `run` would then refuse a stage only that busy worker can host.
 */
import os from 'node:os';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import type { WorkerPlacement } from '../activities/resource-guard';
import { meets, parseMemory, type ResourceOffer } from '../core/resources';

export const DIRECTORY_QUEUE = 'robustok-workers';
const TAG = 'robustok-worker/1';

/**
 * An idle poller refreshes its entry at least every ~70 s (the long-poll timeout); the server forgets
 * entries after 5 minutes. Older than this, the process is presumed gone.
 */
export const LIVE_WINDOW_MS = 150_000;

export interface WorkerAd {
  /** The whole Temporal identity, `<pid>@<host> robustok-worker/1 …`. */
  readonly identity: string;
  /** `<pid>@<host>`: how messages name the worker. */
  readonly name: string;
  /** Task queues the process polls (prefix included). */
  readonly queues: readonly string[];
  readonly offer: ResourceOffer;
}

export function directoryQueue(prefix: string): string {
  return prefix + DIRECTORY_QUEUE;
}

/** `4711@gpu-host-3 robustok-worker/1 queues=gpu gpus=8 memory=257000MiB cpus=64` (MiB: exact enough, short). */
export function encodeIdentity(queues: readonly string[], offer: ResourceOffer, name = `${process.pid}@${os.hostname()}`): string {
  const mib = Math.floor(offer.memoryBytes / 2 ** 20);
  return `${name} ${TAG} queues=${queues.join(',')} gpus=${offer.gpus} memory=${mib}MiB cpus=${offer.cpus}`;
}

/** The advertisement in a worker identity, or undefined for any other poller (other SDKs, older workers). */
export function decodeIdentity(identity: string): WorkerAd | undefined {
  const m = new RegExp(`^(\\S+) ${TAG.replace('/', '\\/')} queues=(\\S*) gpus=(\\d+) memory=(\\S+) cpus=([\\d.]+)$`).exec(identity);
  if (m === null) return undefined;
  const mem = parseMemory(m[4] ?? '');
  if ('error' in mem) return undefined;
  return {
    identity,
    name: m[1] ?? '',
    queues: (m[2] ?? '').split(',').filter((q) => q !== ''),
    offer: { gpus: Number(m[3]), memoryBytes: mem.bytes, cpus: Number(m[5]) },
  };
}

/** The extra worker that keeps this process listed (see the file comment); run and shut it down with the others. */
export function createDirectoryWorker(o: { connection: NativeConnection; namespace: string; prefix: string; identity: string }): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: directoryQueue(o.prefix),
    identity: o.identity,
    // Never scheduled: it exists to poll. One poll at a time keeps its cost to one idle gRPC stream.
    activities: { robustokWorkerPresence: () => Promise.resolve() },
    maxConcurrentActivityTaskExecutions: 1,
    maxConcurrentActivityTaskPolls: 1,
    shutdownGraceTime: '1s',
  });
}

type DescribeTaskQueue = Pick<temporal.api.workflowservice.v1.WorkflowService, 'describeTaskQueue'>;

function timestampMs(ts: { seconds?: { toString(): string } | number | null; nanos?: number | null } | null | undefined): number {
  if (ts === null || ts === undefined) return 0;
  // seconds is a protobuf Long (or a number): its decimal text is exact for any realistic time.
  const s = Number((ts.seconds ?? 0).toString());
  return s * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/**
 * Partitions of a task queue the server spreads pollers over (its matching.numTaskqueueReadPartitions,
 * 4 unless configured; $ROBUSTOK_TASK_QUEUE_PARTITIONS when a cluster sets more).
 */
export function queuePartitions(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.ROBUSTOK_TASK_QUEUE_PARTITIONS);
  return Number.isInteger(n) && n >= 1 ? n : 4;
}

/**
 * Workers of this prefix that polled within LIVE_WINDOW_MS. DescribeTaskQueue lists the pollers of
 * one partition, and a poller on another partition reaches the root's list only while its poll is
 * forwarded there (one at a time per partition): with five workers on a dev server, the root listed
 * four. So every partition is asked (`/_sys/<queue>/<n>` is the server's name for partition n) and
 * the lists are merged. Poll times are the server's clock, `now` this host's: the window is twice the
 * poll interval, so NTP-kept clocks do not matter.
 */
export async function liveWorkers(
  service: DescribeTaskQueue,
  namespace: string,
  prefix: string,
  now = Date.now(),
  partitions = queuePartitions(),
): Promise<WorkerAd[]> {
  const queue = directoryQueue(prefix);
  const names = [queue, ...Array.from({ length: partitions - 1 }, (_, i) => `/_sys/${queue}/${i + 1}`)];
  const lists = await Promise.all(
    names.map(async (name, i) => {
      try {
        const res = await service.describeTaskQueue({
          namespace,
          taskQueue: { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        });
        return res.pollers ?? [];
      } catch (e) {
        // The root must answer; a server that refuses partition names still gives the root's list.
        if (i === 0) throw e;
        return [];
      }
    }),
  );
  const ads = new Map<string, WorkerAd>();
  for (const p of lists.flat()) {
    if (now - timestampMs(p.lastAccessTime) > LIVE_WINDOW_MS) continue;
    const ad = decodeIdentity(p.identity ?? '');
    if (ad !== undefined) ads.set(ad.identity, ad);
  }
  return [...ads.values()];
}

/**
 * The worker-side placement of a process: its offer, and — to tell a final refusal from one a bigger
 * peer may retry — the other live workers of the queue that could host a stage.
 */
export function workerPlacement(o: { service: DescribeTaskQueue; namespace: string; prefix: string; identity: string; offer: ResourceOffer }): WorkerPlacement {
  const name = decodeIdentity(o.identity)?.name ?? o.identity;
  return {
    offer: o.offer,
    name,
    othersAble: async (queue, request) =>
      (await liveWorkers(o.service, o.namespace, o.prefix))
        .filter((w) => w.identity !== o.identity && w.queues.includes(queue) && meets(w.offer, request))
        .map((w) => w.name),
  };
}
