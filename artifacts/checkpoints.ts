/**
 * Mid-stage checkpoints of a stage run, kept under its cache key so any later attempt (on any
 * worker, or in a resumed run) can continue from the newest one:
 *   runs/<key>/checkpoints/attempt-<a>/step-<s>.json   → a directory entry whose files live in cas/
 * Each attempt writes only under its own attempt folder and only while it holds the lease.
 */
import path from 'node:path';
import type { OutputEntry } from './manifest';
import type { ArtifactStore } from './store';
import type { CheckpointIo } from '../stages/stage';
import { PipelineError } from '../core/errors';
import { assertLease, type Lease } from './lease';
import { materialise, uploadOutput } from './outputs';

const prefix = (key: string) => `runs/${key}/checkpoints/`;
const CKPT = /attempt-(\d+)\/step-(\d+)\.json$/;

export interface CheckpointRef {
  readonly key: string;
  readonly step: number;
}

export async function newestCheckpoint(store: ArtifactStore, key: string): Promise<CheckpointRef | undefined> {
  let best: { step: number; attempt: number; key: string } | undefined;
  for (const k of await store.list(prefix(key))) {
    const m = CKPT.exec(k);
    if (!m) continue;
    const attempt = Number(m[1]);
    const step = Number(m[2]);
    if (best === undefined || step > best.step || (step === best.step && attempt > best.attempt)) best = { step, attempt, key: k };
  }
  return best && { key: best.key, step: best.step };
}

export function checkpointIo(o: { store: ArtifactStore; key: string; lease: Lease; workdir: string; onSaved: (ref: CheckpointRef) => void }): CheckpointIo {
  return {
    async latest() {
      const ref = await newestCheckpoint(o.store, o.key);
      if (ref === undefined) return undefined;
      let entry: OutputEntry;
      try {
        entry = JSON.parse((await o.store.getBytes(ref.key)).toString('utf8')) as OutputEntry;
      } catch (e) {
        if (!(e instanceof SyntaxError)) throw e;
        throw new PipelineError('ENTRY_CORRUPT', `checkpoint entry ${ref.key} in ${o.store.uri} is not valid JSON (${e.message}); delete it`);
      }
      const dir = path.join(o.workdir, '.resume', `step-${ref.step}`);
      await materialise(o.store, entry, dir, `checkpoint entry ${ref.key} in ${o.store.uri}`);
      return { dir, step: ref.step };
    },
    async save(dir, step) {
      await assertLease(o.store, o.key, o.lease);
      const entry = await uploadOutput(o.store, dir);
      const key = `${prefix(o.key)}attempt-${o.lease.attempt}/step-${step}.json`;
      await o.store.put(key, JSON.stringify(entry));
      o.onSaved({ key, step });
    },
  };
}
