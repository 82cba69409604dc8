/**
 * The kill-and-resume scenario of the training-stage tests, on the real servers: worker A runs the
 * spec until a checkpoint of step ≥ `minStep` is in the store, is SIGKILLed, worker B takes over (the
 * heartbeat timeout makes Temporal retry the stage there), and the run's result is returned.
 */
import { openStore } from '../../artifacts/open-store';
import type { ArtifactStore } from '../../artifacts/store';
import { runCli, startCli, waitFor, type CliResult } from './cli';

/** Steps of the checkpoints saved by attempt `attempt` of any stage in the store. */
export async function checkpointSteps(store: ArtifactStore, attempt: number): Promise<number[]> {
  return (await store.list('runs/'))
    .map((k) => new RegExp(`/checkpoints/attempt-${attempt}/step-(\\d+)\\.json$`).exec(k)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number);
}

export async function runKilledAfterCheckpoint(
  spec: string,
  env: NodeJS.ProcessEnv,
  minStep: number,
): Promise<{ run: CliResult; killedAfter: number; store: ArtifactStore }> {
  const store = openStore(env.ROBUSTOK_STORE as string, env);
  const workerA = startCli(['worker'], env);
  let workerB: ReturnType<typeof startCli> | undefined;
  const runP = runCli(['run', spec, '--no-worker', '--json'], env);
  let ended: CliResult | undefined;
  void runP.then((r) => (ended = r));
  try {
    await waitFor(
      `a checkpoint of step ${minStep}`,
      async () => {
        if (ended) throw new Error(`the run ended before the kill (exit ${String(ended.code)}): ${ended.stdout.slice(-2000)} ${ended.stderr.slice(-2000)}`);
        return (await checkpointSteps(store, 1)).some((s) => s >= minStep);
      },
      300_000,
    );
    workerA.kill('SIGKILL');
    const killedAfter = Math.max(...(await checkpointSteps(store, 1)));
    workerB = startCli(['worker'], env);
    return { run: await runP, killedAfter, store };
  } finally {
    workerA.kill('SIGKILL');
    workerB?.kill('SIGTERM');
  }
}
