/**
 * robustok — the command line. Each command lives in cli/commands/; this file only wires them.
 *   npx tsx bin/cli.ts --help
 * Exit codes: 0 success, 1 failure (a run failed, a server unreachable), 2 invalid spec or usage.
 */
import { Command, Option } from 'commander';
// Every command is imported on use: `validate` must not pay for loading Temporal, tfjs, sharp or minio
// (a no-op command started in ~2 s when they all loaded up front). Types only here.
import type { demoCommand } from '../cli/commands/demo';
import type { explainCommand } from '../cli/commands/explain';
import type { FidCommandOptions } from '../cli/commands/fid';
import type { ModelForwardOptions } from '../cli/commands/model-forward';
import type { runCommand } from '../cli/commands/run';
import type { cancelCommand, resumeCommand, statusCommand } from '../cli/commands/runs';
import type { ScheduleCreateOptions } from '../cli/commands/schedule';
import type { serverStartCommand } from '../cli/commands/server';
import type { workerCommand } from '../cli/commands/worker';
import { ARCH_NAMES } from '../models/arch-names';

const program = new Command('robustok')
  .description('Declarative, resumable, sweepable RobusTok pipelines on Temporal + MinIO')
  .option('--backend <name>', 'tensor backend: auto | tensorflow | wasm | cpu (default $ROBUSTOK_BACKEND or auto)')
  .option('--verbose', 'worker logs and stack traces on the terminal (otherwise worker logs go to <state dir>/logs/worker.log)')
  .exitOverride((e) => process.exit(e.exitCode === 0 ? 0 : 2))
  .hook('preAction', (cmd) => {
    const backend = cmd.opts<{ backend?: string }>().backend;
    if (backend !== undefined) process.env.ROBUSTOK_BACKEND = backend;
    if (cmd.opts<{ verbose?: boolean }>().verbose === true) process.env.ROBUSTOK_VERBOSE = '1';
  });

// process.exit() drops what a pipe has not taken yet (`robustok schema | jq` lost all past 64 KiB):
// an empty write's callback runs once every earlier write is handed to the OS
const drained = (s: NodeJS.WriteStream) => new Promise<void>((resolve) => (s.writableLength === 0 ? resolve() : s.write('', () => resolve())));
const exit = (p: Promise<number> | number) =>
  Promise.resolve(p).then(async (code) => {
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    process.exit(code);
  });
const collect = (v: string, prev: string[]) => [...prev, v];

const json = new Option('--json', 'print results as JSON');
const address = new Option(
  '--address <host:port>',
  'Temporal frontend (default $TEMPORAL_ADDRESS; none ⇒ the local server of `robustok server start` when it runs, else a dev server started for this call)',
);
const namespace = new Option('--namespace <ns>', 'Temporal namespace (default $TEMPORAL_NAMESPACE or "default")');
const store = new Option('--store <uri>', 'artifact store: file:///dir or s3://bucket/prefix (default $ROBUSTOK_STORE or ./.robustok/store)');
const set = new Option('--set <path=value>', 'override a spec value, e.g. --set stages.train.config.lr=0.001 (repeatable)').argParser(collect).default([]);
const prefix = new Option('--queue-prefix <p>', 'prefix of every task queue name (default $ROBUSTOK_QUEUE_PREFIX)');

program
  .command('validate <spec>')
  .description('check a spec; exit 2 with file:line:column issues if invalid')
  .addOption(set)
  .addOption(json)
  .action((spec: string, o: { set: string[]; json?: boolean }) => exit(import('../cli/commands/validate.js').then((m) => m.validateCommand(spec, o))));
program
  .command('schema')
  .description('print the JSON Schema of pipeline specs (for editors)')
  .action(() => exit(import('../cli/commands/validate.js').then((m) => m.schemaCommand())));
program
  .command('plan <spec>')
  .description('every stage run with cached | will run and its cache key')
  .addOption(set)
  .addOption(json)
  .addOption(store)
  .action((spec: string, o: { set: string[]; json?: boolean; store?: string }) => exit(import('../cli/commands/plan.js').then((m) => m.planCommand(spec, o))));
program
  .command('run <spec>')
  .description(
    'run a pipeline (no address set: on the local server of `server start --detach` if one runs, else on a dev server it starts; workers in this process)',
  )
  .addOption(set)
  .addOption(json)
  .addOption(store)
  .addOption(address)
  .addOption(namespace)
  .addOption(prefix)
  .option('--worker', 'also run workers in this process when connecting to a server')
  .option('--no-worker', 'never run workers in this process')
  .action((spec: string, o: Parameters<typeof runCommand>[1]) => exit(import('../cli/commands/run.js').then((m) => m.runCommand(spec, o))));
program
  .command('status <run>')
  .description('progress or result of a run')
  .option('--watch', 'follow until it finishes')
  .addOption(json)
  .addOption(address)
  .addOption(namespace)
  .action((run: string, o: Parameters<typeof statusCommand>[1]) => exit(import('../cli/commands/runs.js').then((m) => m.statusCommand(run, o))));
program
  .command('resume <run>')
  .description('a new run of the same plan: finished stages are cache hits, failed ones rerun (training resumes from its last checkpoint)')
  .addOption(json)
  .addOption(address)
  .addOption(namespace)
  .addOption(store)
  .addOption(prefix)
  .option('--worker', 'also run workers in this process')
  .option('--no-worker', 'never run workers in this process')
  .action((run: string, o: Parameters<typeof resumeCommand>[1]) => exit(import('../cli/commands/runs.js').then((m) => m.resumeCommand(run, o))));
program
  .command('explain <stage> <spec>')
  .description("why a stage's cache key changed since the last run")
  .addOption(set)
  .addOption(json)
  .addOption(store)
  .action((stage: string, spec: string, o: Parameters<typeof explainCommand>[2]) =>
    exit(import('../cli/commands/explain.js').then((m) => m.explainCommand(stage, spec, o))),
  );
program
  .command('cancel <run>')
  .description('cancel a run')
  .option('--force', 'terminate at once, without waiting for its workers')
  .addOption(json)
  .addOption(address)
  .addOption(namespace)
  .action((run: string, o: Parameters<typeof cancelCommand>[1]) => exit(import('../cli/commands/runs.js').then((m) => m.cancelCommand(run, o))));
program
  .command('worker')
  .description('a worker process: hosts the control queue and stage queues')
  .option('--queue <name>', 'task queue to poll (repeatable; default: robustok and cpu)', collect, [])
  .option('--concurrency <n>', 'stage activities at once per queue')
  .option('--grace <duration>', 'shutdown grace time for running stages', '60s')
  .option('--work-root <dir>', "this host's folder for stage attempt workdirs (default <tmpdir>/robustok-work)")
  .option('--allow-cpu', 'poll the gpu queue even without a GPU backend (its stages then run on the CPU)')
  .option(
    '--resources <list>',
    'what this worker offers stages, overriding detection: gpus=2,memory=64GiB,cpus=16 (any subset; default $ROBUSTOK_WORKER_RESOURCES)',
  )
  .addOption(address)
  .addOption(namespace)
  .addOption(store)
  .addOption(prefix)
  .action((o: Parameters<typeof workerCommand>[0]) => exit(import('../cli/commands/worker.js').then((m) => m.workerCommand(o))));
program
  .command('demo')
  .description('round-trip an artifact through a Temporal workflow and the artifact store')
  .addOption(json)
  .addOption(address)
  .addOption(namespace)
  .addOption(store)
  .action((o: Parameters<typeof demoCommand>[0]) => exit(import('../cli/commands/demo.js').then((m) => m.demoCommand(o))));

// Commands over past runs read the store only (no Temporal); loaded on use.
program
  .command('runs')
  .description('past runs from the store: id, pipeline, outcome, start, duration, best metric')
  .option('--limit <n>', 'newest N runs', '20')
  .addOption(json)
  .addOption(store)
  .action((o: { limit?: string; json?: boolean; store?: string }) => exit(import('../cli/commands/runs-list.js').then((m) => m.runsCommand(o))));
program
  .command('compare <runA> <runB>')
  .description('config differences per stage and metrics per arm (B − A) of two runs')
  .addOption(json)
  .addOption(store)
  .action((a: string, b: string, o: { json?: boolean; store?: string }) => exit(import('../cli/commands/compare.js').then((m) => m.compareCommand(a, b, o))));
program
  .command('logs <run> [stage]')
  .description("a stage attempt's stored log (stage log, stdout, stderr); without a stage, which logs the run has")
  .option('--attempt <n>', 'attempt number (default: the last)')
  .addOption(json)
  .addOption(store)
  .action((run: string, stage: string | undefined, o: { attempt?: string; json?: boolean; store?: string }) =>
    exit(import('../cli/commands/logs.js').then((m) => m.logsCommand(run, stage, o))),
  );
program
  .command('get <run> <output> <dest>')
  .description('export <stage>.<output> of a run to dest (digests verified)')
  .option('--force', 'replace a non-empty dest')
  .addOption(json)
  .addOption(store)
  .action((run: string, out: string, dest: string, o: { force?: boolean; json?: boolean; store?: string }) =>
    exit(import('../cli/commands/get.js').then((m) => m.getCommand(run, out, dest, o))),
  );
program
  .command('gc')
  .description(
    'remove what the newest N runs do not need: old records, unused cache entries, old checkpoints, unreferenced blobs, failed workdirs (dry run unless --apply)',
  )
  .requiredOption('--keep-runs <n>', 'keep the newest N run records and everything they reference')
  .option('--apply', 'delete (default: only report what would be freed)')
  .option('--work-root <dir>', "this host's worker work root (default <tmpdir>/robustok-work)")
  .addOption(json)
  .addOption(store)
  .action((o: { keepRuns?: string; apply?: boolean; workRoot?: string; json?: boolean; store?: string }) =>
    exit(import('../cli/commands/gc.js').then((m) => m.gcCommand(o))),
  );

program
  .command('report <run>')
  .description(
    'one self-contained HTML page of a run: stage graph, metrics pivoted on the sweep axes (+ CSV), FID plots, sample grids, training curves, artifacts, FID provenance',
  )
  .option('--out <dir>', 'folder for report.html and metrics.csv (default <state dir>/reports/<run>)')
  .addOption(json)
  .addOption(store)
  .action((run: string, o: { out?: string; json?: boolean; store?: string }) => exit(import('../cli/commands/report.js').then((m) => m.reportCommand(run, o))));

const model = program.command('model').description('registered model architectures');
model
  .command('forward')
  .description('run --arch on .npy inputs and write its outputs as .npy (to check a converted checkpoint against PyTorch)')
  .requiredOption('--arch <name>', `registered architecture: ${ARCH_NAMES.join(' | ')}`)
  .option('--config <file|json>', 'model config: JSON/YAML file or inline JSON')
  .option('--weights <file>', 'safetensors weights under the upstream PyTorch names')
  .option('--prefix <p>', 'key prefix inside the weights file (ema. or model. for training checkpoints)')
  .option('--no-strict', 'load matching tensors and warn about missing/unexpected/mismatched ones')
  .requiredOption('--input <file...>', ".npy inputs in the arch's input order")
  .requiredOption('--out <dir>', 'output directory (one <name>.npy per output)')
  .option('--seed <n>', 'init seed when no --weights are given', '0')
  .addOption(json)
  .action((o: ModelForwardOptions) =>
    exit(import('../cli/commands/model-forward.js').then((m) => m.modelForwardCommand({ ...o, backend: process.env.ROBUSTOK_BACKEND }))),
  );

program
  .command('fid <a> <b>')
  .description('FID (+ sFID, IS, precision/recall when available) of B against A; each an image folder, .npz samples, .npz statistics or .npy features')
  .option('--weights <file>', 'FID Inception-v3 weights (safetensors, converted from pt_inception-2015-12-05; default $ROBUSTOK_FID_WEIGHTS)')
  .option('--random-weights <seed>', 'use a randomly initialised network (smoke tests only: numbers are not comparable with any paper)', (v) => Number(v))
  .option('--batch-size <n>', 'images per feature-extraction batch', (v) => Number(v))
  .option('--pr', "also compute precision/recall (runs the network on the reference batch's images)")
  .addOption(store)
  .addOption(json)
  .action((a: string, b: string, o: FidCommandOptions) => exit(import('../cli/commands/fid.js').then((m) => m.fidCommand(a, b, o))));

// Temporal Schedules: runs of a spec on a cron/interval, fired by the server (cli/commands/schedule.ts).
const schedule = program.command('schedule').description('runs of a spec later or on a calendar/interval, through Temporal Schedules');
const sched = () => import('../cli/commands/schedule.js');
schedule
  .command('create <spec>')
  .description('plan the spec now (with --set, sweeps expanded) and fire that plan on the schedule')
  .option('--id <id>', 'schedule id (default: the queue prefix + the pipeline name)')
  .option('--cron <expr>', 'cron expression, e.g. "0 3 * * *" (repeatable)', collect, [])
  .option('--every <duration>', 'interval, e.g. 6h (repeatable)', collect, [])
  .option('--at <time>', 'fire once at this ISO time')
  .option('--timezone <tz>', 'time zone of --cron (default UTC)')
  .option('--overlap <policy>', 'when the previous run is still going: skip | buffer-one | buffer-all | allow-all', 'skip')
  .option('--paused', 'create it paused')
  .option('--note <text>', 'note shown by list')
  .option('--replace', 're-plan an existing schedule of this id')
  .addOption(set)
  .addOption(json)
  .addOption(store)
  .addOption(address)
  .addOption(namespace)
  .addOption(prefix)
  .action((spec: string, o: ScheduleCreateOptions) => exit(sched().then((m) => m.scheduleCreateCommand(spec, o))));
schedule
  .command('list')
  .description('schedules of this queue prefix: when, overlap, paused, next and recent firings')
  .addOption(json)
  .addOption(address)
  .addOption(namespace)
  .addOption(prefix)
  .action((o: { json?: boolean }) => exit(sched().then((m) => m.scheduleListCommand(o))));
for (const action of ['pause', 'unpause', 'delete'] as const) {
  schedule
    .command(`${action} <id>`)
    .description(`${action} a schedule`)
    .option('--note <text>', 'reason (pause/unpause)')
    .addOption(json)
    .addOption(address)
    .addOption(namespace)
    .action((id: string, o: { json?: boolean; note?: string }) => exit(sched().then((m) => m.scheduleStateCommand(action, id, o))));
}
schedule
  .command('trigger <id>')
  .description('fire one run now')
  .option('--overlap <policy>', 'override the overlap policy for this firing')
  .addOption(json)
  .addOption(address)
  .addOption(namespace)
  .action((id: string, o: { json?: boolean; overlap?: string }) => exit(sched().then((m) => m.scheduleTriggerCommand(id, o))));

const server = program.command('server').description('local Temporal dev server and MinIO');
server
  .command('provision')
  .description('find or build the temporal and minio binaries; print version and source')
  .action(() => exit(import('../cli/commands/server.js').then((m) => m.provisionCommand())));
server
  .command('start')
  .description('start Temporal (with its Web UI) and MinIO in the foreground (or --detach); print addresses and credentials; exit 1 if one dies')
  .option('--temporal-port <n>', 'Temporal frontend port (remembered for later starts; default a free one)')
  .option('--ui-port <n>', 'Temporal Web UI port (remembered)')
  .option('--minio-port <n>', 'MinIO port (remembered)')
  .option('--detach', "run in the background and return once both answer ('robustok run' with no address then uses them; 'server stop' ends them)")
  .action((o: Parameters<typeof serverStartCommand>[0]) => exit(import('../cli/commands/server.js').then((m) => m.serverStartCommand(o))));
server
  .command('stop')
  .description('stop the local servers started by server start (--detach or in another terminal)')
  .addOption(json)
  .action((o: { json?: boolean }) => exit(import('../cli/commands/server.js').then((m) => m.serverStopCommand(o))));
server
  .command('status')
  .description('whether the local servers run and answer: addresses, pid, Web UI, log (exit 1 when not running or not answering)')
  .addOption(json)
  .action((o: { json?: boolean }) => exit(import('../cli/commands/server.js').then((m) => m.serverStatusCommand(o))));

program.parseAsync().catch((e: unknown) => import('../cli/error-report.js').then((m) => process.exit(m.reportError(e))));
