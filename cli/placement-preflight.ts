/**
 * `run`'s placement check before it starts a run (cli/placement-check.ts says what is checked): the
 * live workers come from the worker directory on the server, plus this process's own workers when it
 * hosts them (they may not have polled yet). Embedded, only the in-process workers exist.
 */
import { errorMessage } from '../core/errors';
import type { Plan } from '../plan/types';
import { inProcessAd } from './in-process-workers';
import { checkPlacement, placedStages, placementWarnings, unsatisfiableError } from './placement-check';
import type { TemporalSession } from './temporal-session';
import { liveWorkers, type WorkerAd } from './worker-directory';

/** Logs warnings (queues nobody polls, mixed pools); throws RESOURCES_UNSATISFIABLE for stages no live worker can host. */
export async function placementPreflight(
  plan: Plan,
  o: { session: TemporalSession; prefix: string; controlQueue: string; inProcess: boolean; log: (l: string) => void },
): Promise<void> {
  const ads = new Map<string, WorkerAd>();
  if (o.inProcess) {
    const own = inProcessAd(plan, o.controlQueue);
    ads.set(own.identity, own);
  }
  if (o.session.devServer === undefined) {
    try {
      for (const w of await liveWorkers(o.session.client.workflowService, o.session.namespace, o.prefix)) ads.set(w.identity, w);
    } catch (e) {
      // An old server or a restricted role: the run goes ahead, and the workers' own guard still refuses a stage too big for them.
      o.log(`warning: could not list the live workers (${errorMessage(e)}): stage resources are checked by the workers only`);
      return;
    }
  }
  const verdict = checkPlacement(placedStages(plan.runs), [...ads.values()]);
  for (const w of placementWarnings(verdict, o.prefix)) o.log(w);
  const err = unsatisfiableError(verdict, o.prefix);
  if (err !== undefined) throw err;
}
