/**
 * Placement by `resources`: what a host offers (host-resources.ts), how a worker advertises it in its
 * Temporal identity (worker-directory.ts), `run`'s check against the live workers of each queue
 * (placement-check.ts), the worker-side refusal (activities/resource-guard.ts), and resources staying
 * out of the plan's keys.   node --import tsx --test test/unit/cli/placement.test.ts
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { guardResources } from '../../../activities/resource-guard';
import { isPipelineError } from '../../../core/errors';
import type { ResourceOffer } from '../../../core/resources';
import { cpuCount, detectOffer, gpuCount, memoryBytes, workerOffer } from '../../../cli/host-resources';
import { checkPlacement, placedStages, placementWarnings, unsatisfiableError } from '../../../cli/placement-check';
import { decodeIdentity, encodeIdentity, liveWorkers, LIVE_WINDOW_MS, type WorkerAd } from '../../../cli/worker-directory';
import { keyMaterial, cacheKey } from '../../../plan/cache-key';
import { buildPlan } from '../../../plan/index';
import { loadSpecText, formatIssues } from '../../../spec/index';
import { stageCatalog } from '../../../stages/catalog';

const GiB = 2 ** 30;

async function fakeHost(gpus: number, files: Record<string, string> = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'placement-'));
  const proc = path.join(dir, 'gpus');
  await mkdir(proc);
  for (let i = 0; i < gpus; i++) await mkdir(path.join(proc, `0000:0${i}:00.0`));
  const cgroup = path.join(dir, 'cgroup');
  await mkdir(path.join(cgroup, 'memory'), { recursive: true });
  for (const [f, text] of Object.entries(files)) await writeFile(path.join(cgroup, f), text);
  return { nvidiaProcDir: proc, cgroupDir: cgroup };
}

test('gpus: the driver devices, narrowed by CUDA_VISIBLE_DEVICES; a GPU backend counts where /proc is hidden', async () => {
  const four = await fakeHost(4);
  assert.equal(gpuCount({ ...four, env: {} }), 4);
  assert.equal(gpuCount({ ...four, env: { CUDA_VISIBLE_DEVICES: '0,2' } }), 2);
  assert.equal(gpuCount({ ...four, env: { CUDA_VISIBLE_DEVICES: '' } }), 0);
  assert.equal(gpuCount({ ...four, env: { CUDA_VISIBLE_DEVICES: '-1' } }), 0);
  assert.equal(gpuCount({ ...four, env: { CUDA_VISIBLE_DEVICES: '1,-1,2' } }), 1);
  assert.equal(gpuCount({ nvidiaProcDir: '/nonexistent', env: {} }), 0);
  assert.equal(gpuCount({ nvidiaProcDir: '/nonexistent', env: {}, backendGpu: 'cuda' }), 1);
});

test('memory and cpus: the cgroup limits when below the machine, else the machine', async () => {
  const limited = await fakeHost(0, { 'memory.max': `${8 * GiB}\n`, 'cpu.max': '150000 100000\n' });
  assert.equal(memoryBytes({ ...limited, totalMemory: 64 * GiB }), 8 * GiB);
  assert.equal(cpuCount({ ...limited, cpus: 16 }), 1.5);
  const unlimited = await fakeHost(0, { 'memory.max': 'max\n', 'cpu.max': 'max 100000\n' });
  assert.equal(memoryBytes({ ...unlimited, totalMemory: 64 * GiB }), 64 * GiB);
  assert.equal(cpuCount({ ...unlimited, cpus: 16 }), 16);
  const v1 = await fakeHost(0, { 'memory/memory.limit_in_bytes': `${4 * GiB}` });
  assert.equal(memoryBytes({ ...v1, totalMemory: 64 * GiB }), 4 * GiB);
});

test('--resources overrides what was detected, name by name; a malformed one names the form', async () => {
  const host = { ...(await fakeHost(0)), env: {}, totalMemory: 8 * GiB, cpus: 2 };
  assert.deepEqual(detectOffer(host), { gpus: 0, memoryBytes: 8 * GiB, cpus: 2 });
  assert.deepEqual(workerOffer('gpus=2,memory=64GiB', host), { gpus: 2, memoryBytes: 64 * GiB, cpus: 2 });
  assert.throws(
    () => workerOffer('gpus=two', host),
    (e) => isPipelineError(e) && /--resources gpus=two: gpus is a whole number ≥ 0, got "two"/.test(e.message),
  );
});

test('the identity carries the offer and the queues, and reads back; other identities are not ours', () => {
  const offer: ResourceOffer = { gpus: 8, memoryBytes: 251 * GiB + 5, cpus: 1.5 };
  const id = encodeIdentity(['p-robustok', 'p-gpu'], offer, '4711@gpu-3');
  assert.equal(id, '4711@gpu-3 robustok-worker/1 queues=p-robustok,p-gpu gpus=8 memory=257024MiB cpus=1.5');
  assert.deepEqual(decodeIdentity(id), {
    identity: id,
    name: '4711@gpu-3',
    queues: ['p-robustok', 'p-gpu'],
    offer: { gpus: 8, memoryBytes: 251 * GiB, cpus: 1.5 },
  });
  assert.equal(decodeIdentity('4711@gpu-3'), undefined);
  assert.equal(decodeIdentity('1@h robustok-worker/1 queues=cpu gpus=x memory=1MiB cpus=1'), undefined);
});

test('liveWorkers: every partition of the directory queue, merged; only recent pollers that speak our identity', async () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  const at = (ms: number) => ({ seconds: { toString: () => String(Math.floor(ms / 1000)) }, nanos: 0 });
  const id = (name: string) => encodeIdentity(['cpu'], { gpus: 0, memoryBytes: GiB, cpus: 1 }, name);
  const byPartition: Record<string, { identity: string; lastAccessTime: ReturnType<typeof at> }[] | Error> = {
    'x-robustok-workers': [
      { identity: id('1@a'), lastAccessTime: at(now - 60_000) },
      { identity: id('2@b'), lastAccessTime: at(now - LIVE_WINDOW_MS - 1000) },
      { identity: '3@c', lastAccessTime: at(now) },
    ],
    // a poller whose polls stay on partition 1 is missing from the root's list
    '/_sys/x-robustok-workers/1': [
      { identity: id('4@d'), lastAccessTime: at(now - 1000) },
      { identity: id('1@a'), lastAccessTime: at(now - 1000) },
    ],
    '/_sys/x-robustok-workers/2': new Error('partition names refused'),
  };
  const asked: string[] = [];
  const service = {
    describeTaskQueue: (req: { taskQueue: { name: string } }) => {
      asked.push(req.taskQueue.name);
      const r = byPartition[req.taskQueue.name] ?? [];
      return r instanceof Error ? Promise.reject(r) : Promise.resolve({ pollers: r });
    },
  } as unknown as Parameters<typeof liveWorkers>[0];
  const live = await liveWorkers(service, 'ns', 'x-', now, 4);
  assert.deepEqual(live.map((w) => w.name).sort(), ['1@a', '4@d']);
  assert.deepEqual(asked, ['x-robustok-workers', '/_sys/x-robustok-workers/1', '/_sys/x-robustok-workers/2', '/_sys/x-robustok-workers/3']);
  byPartition['x-robustok-workers'] = new Error('unavailable');
  await assert.rejects(liveWorkers(service, 'ns', 'x-', now, 4), /unavailable/, 'the root partition must answer');
});

const ad = (name: string, queues: string[], offer: ResourceOffer): WorkerAd => {
  const w = decodeIdentity(encodeIdentity(queues, offer, name));
  if (w === undefined) assert.fail('identity did not decode');
  return w;
};
const cpuBox = ad('1@cpu-a', ['p-robustok', 'p-cpu'], { gpus: 0, memoryBytes: 8 * GiB, cpus: 2 });
const cpuBig = ad('2@cpu-b', ['p-cpu'], { gpus: 0, memoryBytes: 64 * GiB, cpus: 16 });
const gpuBox = ad('3@gpu-a', ['p-gpu'], { gpus: 1, memoryBytes: 32 * GiB, cpus: 8 });

test('run refuses a stage no live worker of its queue can host, naming the stage, each worker and the fixes', () => {
  const stages = placedStages([
    { stageId: 'train', queue: 'p-cpu', resources: { gpus: 1, memory: '16GiB' } },
    { stageId: 'train', queue: 'p-cpu', resources: { gpus: 1, memory: '16GiB' } },
    { stageId: 'data', queue: 'p-cpu', resources: {} },
  ]);
  assert.equal(stages.length, 2, 'arms of one stage are checked once');
  const v = checkPlacement(stages, [cpuBox, cpuBig, gpuBox]);
  const e = unsatisfiableError(v, 'p-');
  assert.ok(e !== undefined && isPipelineError(e, 'RESOURCES_UNSATISFIABLE'));
  assert.match(e.message, /^stage train asks gpus 1, memory 16 GiB on queue cpu, more than any live worker of that queue offers: /);
  assert.match(e.message, /1@cpu-a offers gpus 0, memory 8 GiB, cpus 2 \(short: gpus 1 > 0, memory 16 GiB > 8 GiB\)/);
  assert.match(e.message, /2@cpu-b offers gpus 0, memory 64 GiB, cpus 16 \(short: gpus 1 > 0\)/);
  assert.doesNotMatch(e.message, /gpu-a/, 'workers of other queues are not listed');
  assert.match(e.message, /robustok worker --queue cpu --queue-prefix p-; `--resources gpus=1,memory=16GiB`/);
  assert.match(e.message, /or lower the stage's resources/);
});

test('a pool where some workers fit is accepted with a warning; an unpolled queue is a warning, never a failure', () => {
  const v = checkPlacement(
    placedStages([
      { stageId: 'big', queue: 'p-cpu', resources: { memory: '32GiB' } },
      { stageId: 'gen', queue: 'p-gpu', resources: { gpus: 1 } },
      { stageId: 'eval', queue: 'p-eval', resources: { gpus: 4 } },
    ]),
    [cpuBox, cpuBig, gpuBox],
  );
  assert.equal(unsatisfiableError(v, 'p-'), undefined);
  assert.deepEqual(v.unpolled, ['p-eval']);
  const lines = placementWarnings(v, 'p-');
  assert.match(lines[0] ?? '', /no live worker polls queue eval: its stages will wait until one starts \(robustok worker --queue eval --queue-prefix p-\)/);
  assert.match(lines[1] ?? '', /stage big asks memory 32 GiB: of queue cpu's workers only 2@cpu-b can host it; 1@cpu-a will refuse it/);
  assert.equal(lines.length, 2);
});

test('the worker guard: nothing without a request or when it fits; final when no peer can, retried when one can', async () => {
  const placement = (others: readonly string[] | undefined) => ({
    offer: { gpus: 0, memoryBytes: 8 * GiB, cpus: 2 },
    name: '1@cpu-a',
    othersAble: () => (others === undefined ? Promise.reject(new Error('server down')) : Promise.resolve(others)),
  });
  await guardResources(undefined, { id: 's', resources: { gpus: 4 } }, 'cpu', 1);
  await guardResources(placement([]), { id: 's', resources: {} }, 'cpu', 1);
  await guardResources(placement([]), { id: 's', resources: { memory: '8GiB', cpus: 2 } }, 'cpu', 1);
  const refused = async (others: readonly string[] | undefined) => {
    try {
      await guardResources(placement(others), { id: 'train', resources: { gpus: 1 } }, 'cpu', 2);
    } catch (e) {
      assert.ok(e instanceof ApplicationFailure);
      assert.equal(e.type, 'RESOURCES_UNSATISFIABLE');
      assert.deepEqual(e.details, [{ attempt: 2 }]);
      return e;
    }
    return assert.fail('the guard let a stage asking a GPU run on a worker without one');
  };
  const none = await refused([]);
  assert.equal(none.nonRetryable, true);
  assert.match(
    none.message,
    /stage train asks gpus 1; worker 1@cpu-a on queue cpu offers gpus 0, memory 8 GiB, cpus 2 \(short: gpus 1 > 0\), and no other live worker/,
  );
  const some = await refused(['3@gpu-a']);
  assert.equal(some.nonRetryable, false);
  assert.match(some.message, /3@gpu-a can host it and may take the retry/);
  assert.equal((await refused(undefined)).nonRetryable, false, 'unknown peers: retried, not final');
});

test('resources are not part of any key: where a stage runs does not change what it computes', () => {
  const planOf = (resources: string) => {
    const text = `apiVersion: robustok.dev/v1\nname: t\nstages:\n  a:\n    kind: command\n${resources}    config: {argv: [a, '\${outputs.o}'], outputs: {o: o.txt}}\n`;
    const loaded = loadSpecText(text, 'p.yaml', stageCatalog);
    if (!loaded.ok) assert.fail(formatIssues(loaded.error));
    const r = buildPlan(loaded.value.spec, stageCatalog, loaded.value.sourceMap);
    if (!r.ok) assert.fail(formatIssues(r.error));
    return r.value.runs[0];
  };
  const plain = planOf('');
  const asking = planOf('    resources: {gpus: 2, memory: 64GiB}\n');
  assert.deepEqual(asking?.resources, { gpus: 2, memory: '64GiB' });
  assert.equal(asking?.structuralKey, plain?.structuralKey);
  if (plain === undefined || asking === undefined) assert.fail('no runs');
  assert.equal(cacheKey(keyMaterial(asking, {})), cacheKey(keyMaterial(plain, {})));
});
