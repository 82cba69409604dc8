/**
 * The generic stage runner, as Temporal activities. createStageActivities(deps) returns:
 *   lookupStage  — cache key of a run from its inputs' digests; a verified manifest ⇒ hit
 *   runStage     — lease → materialise inputs → stage.run(ctx) with heartbeats/checkpoints →
 *                  note "outputs complete" → upload outputs (hash while streaming) → check lease →
 *                  manifest LAST. A later attempt finding the note uploads instead of recomputing.
 *   writeRunRecord — the run record of a whole pipeline run
 * Stage code never sees Temporal: heartbeats, cancellation and failures are mapped here.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledFailure, Context } from '@temporalio/activity';
import type { Json } from '../core/canonical-json';
import { PipelineError, errorMessage } from '../core/errors';
import { redact } from '../core/redact';
import type { RunRecord } from '../core/run-record';
import { attachArmParams } from '../artifacts/run-plans';
import { writeRunRecordTo } from '../artifacts/run-records';
import { lookupManifest, writeManifest, MANIFEST_SCHEMA, type OutputEntry } from '../artifacts/manifest';
import type { ArtifactStore } from '../artifacts/store';
import { cacheKey, keyMaterial } from '../plan/cache-key';
import { stageImpl } from '../stages/registry';
import type { StageContext } from '../stages/stage';
import { AttemptLines, attachAttemptLogs, storeFailedLog, uploadAttemptLog, type AttemptLogInput } from '../artifacts/attempt-log';
import { checkpointIo, type CheckpointRef } from '../artifacts/checkpoints';
import { clearCompleted, findCompleted, recordCompleted } from '../artifacts/completed-outputs';
import { diskFullError, isDiskFull, keepNewestFailed } from '../artifacts/failed-workdirs';
import { toApplicationFailure } from './failures';
import { guardResources, type WorkerPlacement } from './resource-guard';
import { takeLease, assertLease, type Lease } from '../artifacts/lease';
import { keepAlive } from '../artifacts/liveness';
import { awaitInFlight } from '../artifacts/single-flight';
import { fullEntry, slimOutputs } from '../artifacts/output-listing';
import { MetricsHistory, restoreHistoryAtCheckpoint, saveHistoryAtCheckpoint, storeMetricsHistory } from '../artifacts/metrics-history';
import { markUsed, runIdOfWorkflow } from '../artifacts/usage-marks';
import { inputPath, materialise, uploadOutput } from '../artifacts/outputs';
import type { LookupInput, LookupResult, RunStageInput, RunStageResult, StageHeartbeat } from './stage-contract';

export interface StageActivityDeps {
  /** Opens the store a run names (cached per URI by the caller). */
  readonly openStore: (uri: string) => ArtifactStore;
  /** Where attempts get their workdirs (default: os tmpdir). */
  readonly workRoot?: string;
  /** Package version + lockfile digest; recorded in every manifest. */
  readonly codeVersion: string;
  /** The compute backend record (compute/), recorded in every manifest. */
  readonly backend?: () => Json | undefined;
  /** Identifies this worker in leases and logs. */
  readonly workerName?: string;
  /** What this worker offers; a stage asking more is refused before it starts (resource-guard.ts). */
  readonly placement?: WorkerPlacement;
}

export function createStageActivities(deps: StageActivityDeps) {
  const workRoot = deps.workRoot ?? path.join(os.tmpdir(), 'robustok-work');
  const workerName = deps.workerName ?? `${os.hostname()}:${process.pid}`;

  async function lookupStage(input: LookupInput): Promise<LookupResult> {
    try {
      const material = keyMaterial(input.run, Object.fromEntries(Object.entries(input.inputs).map(([name, ref]) => [name, ref.digest])));
      const key = cacheKey(material);
      if (!input.run.deterministic) return { hit: false, key, material, reason: 'nondeterministic' };
      const found = await lookupManifest(deps.openStore(input.storeUri), key, { verify: true });
      switch (found.state) {
        case 'hit':
          await markUsed(deps.openStore(input.storeUri), key, runIdOfWorkflow(Context.current().info.workflowExecution?.workflowId));
          return { hit: true, key, material, outputs: slimOutputs(key, found.manifest.outputs), metrics: found.manifest.metrics };
        case 'miss':
          return { hit: false, key, material, reason: 'absent' };
        case 'corrupt': {
          const warning = redact(`cache entry ${key} of stage ${input.run.id} is unusable (${found.reason}); recomputing`);
          Context.current().log.warn(warning);
          return { hit: false, key, material, reason: 'corrupt', warning };
        }
      }
    } catch (e) {
      throw toApplicationFailure(e);
    }
  }

  async function runStage(input: RunStageInput): Promise<RunStageResult> {
    const actx = Context.current();
    const attempt = actx.info.attempt;
    // Before anything is leased or downloaded: a worker too small for the stage takes nothing.
    await guardResources(deps.placement, { id: input.run.id, resources: input.run.resources }, actx.info.taskQueue, attempt);
    const started = Date.now();
    const workdir = path.join(workRoot, input.key.slice(0, 16), `attempt-${attempt}-${randomUUID().slice(0, 8)}`);
    const wf = actx.info.workflowExecution;
    const lease: Lease = {
      execution: `${wf?.workflowId ?? '?'}/${wf?.runId ?? '?'}/${actx.info.activityId}`,
      attempt,
      token: randomUUID(),
      worker: workerName,
      at: new Date().toISOString(),
    };
    const store = deps.openStore(input.storeUri);
    let stopAlive: (() => Promise<void>) | undefined;
    let lastCheckpoint: CheckpointRef | undefined;
    let resumedFromStep: number | undefined;
    let ticker: NodeJS.Timeout | undefined;
    const history = new MetricsHistory();
    // The attempt's log goes to the store whatever the outcome, so it outlives this host.
    const lines = new AttemptLines();
    const logOf = (outcome: AttemptLogInput['outcome'], error?: AttemptLogInput['error']): AttemptLogInput => ({
      runId: input.runId,
      stageRunId: input.run.id,
      stageId: input.run.stageId,
      kind: input.run.kind,
      key: input.key,
      attempt,
      token: lease.token,
      worker: workerName,
      workdir,
      startedAt: new Date(started).toISOString(),
      outcome,
      error,
    });
    // A heartbeat states the whole picture: fields a report leaves out (e.g. total) keep their last value.
    let last: Omit<StageHeartbeat, 'checkpointRef' | 'stage'> = { step: 0 };
    const beat = (p: Partial<Omit<StageHeartbeat, 'checkpointRef' | 'stage'>>) => {
      last = { ...last, ...Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) };
      // Heartbeat details end up in Temporal's history and in `run`'s progress bars.
      if (last.message !== undefined) last = { ...last, message: redact(last.message) };
      actx.heartbeat({ ...last, stage: input.run.id, checkpointRef: lastCheckpoint?.key } satisfies StageHeartbeat);
    };
    try {
      const impl = await stageImpl(input.run.kind);
      if (impl === undefined)
        throw new PipelineError('UNKNOWN_STAGE_KIND', `no worker implementation for stage kind '${input.run.kind}' on ${workerName}; upgrade this worker`);
      const parsed = impl.descriptor.configSchema.safeParse(input.run.config);
      if (!parsed.success)
        throw new PipelineError('CONFIG_INVALID', `config of stage ${input.run.id} is invalid for kind ${input.run.kind}: ${parsed.error.message}`);
      // Private to the worker's user (inputs, logs and kept workdirs of failed attempts included).
      await mkdir(workdir, { recursive: true, mode: 0o700 });
      const declared = impl.descriptor.outputs(parsed.data);
      // An earlier attempt on this worker may have finished the work and failed only to upload it.
      const reused = await findCompleted(workRoot, { key: input.key, execution: lease.execution, deterministic: input.run.deterministic, declared });
      await takeLease(store, input.key, lease);
      const alive = keepAlive(store, input.key, lease.token, { attempt, worker: workerName, execution: lease.execution });
      stopAlive = alive;
      if (reused === undefined && input.run.deterministic) {
        // Another run computing the same key right now: wait for its result instead of computing it twice
        // (a nondeterministic stage is never served another execution's result).
        await alive.written;
        const joined = await awaitInFlight(store, input.key, {
          execution: lease.execution,
          token: lease.token,
          since: alive.since,
          signal: actx.cancellationSignal,
          onWait: (owner) =>
            beat({ step: 0, message: `another run is computing this stage (attempt ${owner.attempt} on ${owner.worker}); waiting for its result` }),
        });
        if (joined !== undefined) {
          const note = `stage ${input.run.id}: joined the run of attempt ${joined.attempt} on ${joined.host} (another run computed the same key); its outputs are reused`;
          actx.log.info(note);
          lines.add('INFO', note);
          await rm(workdir, { recursive: true, force: true });
          return { key: input.key, outputs: slimOutputs(input.key, joined.outputs), metrics: joined.metrics, attempt, durationMs: Date.now() - started };
        }
      }
      const result = reused === undefined ? await compute() : { outputs: reused.outputs, metrics: reused.metrics };
      if (reused !== undefined) {
        const note = `outputs of stage ${input.run.id} were computed by attempt ${reused.attempt} (kept in ${reused.workdir}); uploading them`;
        actx.log.info(note);
        lines.add('INFO', note);
      }
      beat({ step: 0, message: reused === undefined ? 'uploading outputs' : `uploading outputs computed by attempt ${reused.attempt}` });
      // Store retries can wait out an outage of minutes: the attempt is alive meanwhile, so say so.
      ticker = setInterval(() => beat({}), 5_000);
      const outputs: Record<string, OutputEntry> = {};
      for (const name of declared) {
        const local = result.outputs[name];
        if (local === undefined) throw new PipelineError('INTERNAL', `stage ${input.run.kind} did not return its declared output '${name}'`);
        outputs[name] = await uploadOutput(store, local);
      }
      // The attempt's log first: nothing slow may come between the lease check and the commit.
      const log = await uploadAttemptLog(store, logOf('succeeded'), lines).catch((e: unknown) => {
        actx.log.warn(redact(`stage ${input.run.id}: could not store the attempt's log: ${errorMessage(e)}`));
        return undefined;
      });
      // The commit point: only the attempt holding the lease may write the manifest.
      await assertLease(store, input.key, lease);
      await storeMetricsHistory(store, history, input.key, { id: input.run.id, kind: input.run.kind }, (m) => {
        actx.log.warn(redact(m));
      });
      const finished = Date.now();
      await writeManifest(store, {
        schema: MANIFEST_SCHEMA,
        key: input.key,
        stage: { id: input.run.stageId, kind: input.run.kind, version: input.run.version },
        material: input.material,
        outputs,
        metrics: result.metrics ?? {},
        attempt,
        startedAt: new Date(started).toISOString(),
        finishedAt: new Date(finished).toISOString(),
        durationMs: finished - started,
        codeVersion: deps.codeVersion,
        host: workerName,
        backend: deps.backend?.(),
        ...(log === undefined ? {} : { log }),
      });
      await clearCompleted(workRoot, { key: input.key, workdir: reused?.workdir });
      await rm(workdir, { recursive: true, force: true });
      return {
        key: input.key,
        outputs: slimOutputs(input.key, outputs),
        metrics: result.metrics ?? {},
        attempt,
        durationMs: finished - started,
        resumedFromStep,
      };

      async function compute(): Promise<{ outputs: Record<string, string>; metrics?: Record<string, Json> }> {
        if (impl === undefined || !parsed.success) throw new PipelineError('INTERNAL', 'unreachable: stage implementation checked above');
        beat({ step: 0, message: 'materialising inputs' });
        const inputs: Record<string, string> = {};
        for (const [name, ref] of Object.entries(input.inputs)) {
          const where = `input '${name}' of stage ${input.run.id} (entry ${String(ref.digest).slice(0, 12)}…)`;
          const entry = await fullEntry(store, ref, where);
          const target = inputPath(path.join(workdir, 'inputs'), name, entry);
          await materialise(store, entry, target, where);
          inputs[name] = target;
        }
        const ckpt = checkpointIo({
          store: store,
          key: input.key,
          lease,
          workdir,
          onSaved: (ref) => {
            lastCheckpoint = ref;
            beat({ step: ref.step, message: 'checkpoint saved' });
          },
        });
        const ctx: StageContext<unknown> = {
          config: parsed.data,
          inputs,
          workdir,
          seed: input.run.seed,
          attempt,
          checkpointEvery: input.run.checkpointEvery,
          log: {
            info: (m) => {
              actx.log.info(redact(m), { stage: input.run.id });
              lines.add('INFO', redact(m));
            },
            warn: (m) => {
              actx.log.warn(redact(m), { stage: input.run.id });
              lines.add('WARN', redact(m));
            },
          },
          progress: (p) => beat(history.take(p)),
          checkpoints: {
            latest: async () => {
              const got = await ckpt.latest();
              resumedFromStep = got?.step;
              if (got !== undefined) await restoreHistoryAtCheckpoint(store, history, input.key, got.step);
              return got;
            },
            save: async (dir, step) => {
              await ckpt.save(dir, step);
              // So a resumed attempt's curves continue from here instead of starting at its first step.
              await saveHistoryAtCheckpoint(store, history, input.key, (m) => {
                actx.log.warn(redact(`stage ${input.run.id}: ${m}`));
              });
            },
          },
          signal: actx.cancellationSignal,
        };
        await mkdir(workdir, { recursive: true });
        const ran = await impl.run(ctx);
        // From here the work is done: outputs stay in this (kept) workdir until a manifest commits them.
        const local: Record<string, string> = {};
        for (const name of declared) if (ran.outputs[name] !== undefined) local[name] = ran.outputs[name];
        await recordCompleted(workRoot, { key: input.key, execution: lease.execution, attempt, workdir, outputs: local, metrics: ran.metrics ?? {} });
        return ran;
      }
    } catch (e) {
      // Cancellation must reach Temporal as it is.
      if (e instanceof CancelledFailure) {
        await storeFailedLog(store, logOf('cancelled', { code: 'CANCELLED', message: e.message }), lines);
        throw e;
      }
      // The workdir of a failed attempt stays for inspection (the newest per stage key only); the error
      // says where, and which attempt. A full disk is named as such, whoever hit it (we or the program),
      // and the attempt's workdir goes: keeping it would keep the disk full for every other stage.
      const full = isDiskFull(e);
      const pe = full ? diskFullError(e, workdir) : e instanceof PipelineError ? e : new PipelineError('INTERNAL', errorMessage(e), { cause: e });
      const message = full || pe.message.includes(workdir) ? pe.message : `${pe.message} (workdir kept at ${workdir})`;
      if (full) await rm(workdir, { recursive: true, force: true }).catch(() => undefined);
      else await keepNewestFailed(workdir).catch(() => undefined);
      await storeFailedLog(store, logOf('failed', { code: pe.code, message }), lines);
      throw toApplicationFailure(new PipelineError(pe.code, message, { cause: pe.cause, details: { ...pe.details, attempt } }));
    } finally {
      clearInterval(ticker);
      await stopAlive?.();
    }
  }

  async function writeRunRecord(input: { storeUri: string; record: RunRecord }): Promise<string> {
    const { record } = input;
    const store = deps.openStore(input.storeUri);
    try {
      return await writeRunRecordTo(store, await attachArmParams(store, await attachAttemptLogs(store, record)));
    } catch (e) {
      throw toApplicationFailure(e);
    }
  }

  return { lookupStage, runStage, writeRunRecord };
}

export type StageActivities = ReturnType<typeof createStageActivities>;
