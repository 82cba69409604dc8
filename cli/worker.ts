/**
 * Builds a Temporal worker hosting our workflows and activities on one task queue.
 * The workflow bundle is built once per process (webpack takes seconds) and reused.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, type Dirent } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheDir } from '../infra/cache-dir';
import { PACKAGE_ROOT } from '../infra/package-root';
import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createStageActivities } from '../activities/stage-activities';
import type { Json } from '../core/canonical-json';
import { codeVersion } from './code-version';
import { recordedBackend } from '../compute/backend-state';
import { openStore } from '../artifacts/open-store';
import type { ArtifactStore } from '../artifacts/store';
import type { WorkerPlacement } from '../activities/resource-guard';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Folders whose sources can end up in the workflow bundle (workflows import plan/ and core/). */
const BUNDLED_DIRS = ['workflows', 'plan', 'core', 'activities', 'spec', 'stages'];

function sourcesDigest(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) h.update(p.slice(root.length)).update(readFileSync(p));
    }
  };
  for (const d of BUNDLED_DIRS) walk(path.join(root, d));
  h.update(readFileSync(path.join(root, 'package-lock.json')));
  return h.digest('hex').slice(0, 16);
}

/** The pipeline workflow bundle as webpack builds it from the sources (seconds). */
export function buildPipelineBundle(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({
    // the pipeline workflow only: the round-trip demo has its own worker (cli/demo-worker.ts)
    workflowsPath: path.join(PACKAGE_ROOT, 'workflows', 'pipeline.ts'),
    logger: { trace() {}, debug() {}, info() {}, warn: (m) => console.warn(m), error: (m) => console.error(m), log() {} },
  });
}

/**
 * The workflow bundle: the one `npm run build` put beside the compiled code (dist/ runs only while it is
 * current), else built once per source version and kept on disk — webpack takes seconds, and a no-op
 * re-run of a finished pipeline should not pay for it.
 */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= (async () => {
    // Exists only in dist/ (infra/build-dist.ts WORKFLOW_BUNDLE): running from the sources, __dirname/.. is the checkout.
    const prebuilt = path.join(__dirname, '..', 'workflows', 'pipeline.bundle.json');
    if (existsSync(prebuilt)) return JSON.parse(await readFile(prebuilt, 'utf8')) as WorkflowBundleWithSourceMap;
    const file = path.join(cacheDir(), 'workflow-bundles', `${sourcesDigest(PACKAGE_ROOT)}.json`);
    try {
      return JSON.parse(await readFile(file, 'utf8')) as WorkflowBundleWithSourceMap;
    } catch {
      // not built yet for these sources
    }
    const built = await buildPipelineBundle();
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(built));
    await rename(tmp, file);
    return built;
  })();
  return bundle;
}

/** The compute backend record for manifests, once a stage (or the worker) has initialised one. */
function initialisedBackend(): Json | undefined {
  return recordedBackend() as unknown as Json | undefined;
}

/** Opens stores by URI once per process; the worker's own store is reused for its URI. */
function storeOpener(known: ArtifactStore): (uri: string) => ArtifactStore {
  const stores = new Map<string, ArtifactStore>([[known.uri, known]]);
  return (uri) => {
    let s = stores.get(uri);
    if (s === undefined) {
      s = openStore(uri);
      stores.set(uri, s);
    }
    return s;
  };
}

export interface WorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace: string;
  readonly taskQueue: string;
  /** The worker's default store; pipeline runs name their own store by URI (opened on demand). */
  readonly store: ArtifactStore;
  /** How long a shutting-down worker lets running activities finish before cancelling them. */
  readonly shutdownGraceTime?: string;
  /** Where stage attempts get their workdirs. */
  readonly workRoot?: string;
  readonly backend?: () => Json | undefined;
  /** Host workflows too (the control queue); stage queues host activities only, which starts faster. */
  readonly workflows?: boolean;
  /**
   * Run workflow code on the main thread instead of a worker thread. The CLI's short-lived in-process
   * worker uses it: a workflow thread loads the SDK's protobuf code a second time (~1 s of CPU here),
   * more than a no-op re-run of a pipeline takes otherwise. Long-lived `robustok worker` processes keep
   * the thread (and its deadlock detection).
   */
  readonly mainThreadWorkflows?: boolean;
  /** Stage activities running at once on this worker (default 2: a stage is usually CPU-bound). */
  readonly maxConcurrentActivities?: number;
  /** Temporal identity: worker-directory.ts encodes what the process offers in it (shown in the Web UI's pollers). */
  readonly identity?: string;
  /** What this worker offers: stages asking more are refused (activities/resource-guard.ts). */
  readonly placement?: WorkerPlacement;
}

export async function createWorker(o: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    ...(o.identity === undefined ? {} : { identity: o.identity }),
    workflowBundle: o.workflows === false ? undefined : await workflowBundle(),
    debugMode: o.mainThreadWorkflows === true,
    activities: {
      ...createStageActivities({
        openStore: storeOpener(o.store),
        codeVersion: codeVersion(),
        workRoot: o.workRoot,
        backend: o.backend ?? initialisedBackend,
        placement: o.placement,
      }),
    },
    maxConcurrentActivityTaskExecutions: o.maxConcurrentActivities ?? 2,
    // Heartbeats carry stage progress for `robustok run`/`status`: send them every few seconds
    // rather than the SDK's default of up to a minute apart.
    maxHeartbeatThrottleInterval: '3s',
    defaultHeartbeatThrottleInterval: '3s',
    shutdownGraceTime: o.shutdownGraceTime ?? '30s',
  });
}
