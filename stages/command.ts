/**
 * The `command` stage: runs an external program (argv, no shell unless `shell: true`) in the
 * attempt's workdir, with declared inputs materialised and declared outputs collected.
 * A line `::progress STEP[/TOTAL] [message]` on stdout becomes a progress heartbeat; a line
 * `::metrics name=value …` adds numbers (loss, lr, …) at the last reported step to the run's metrics
 * history, which the run report plots.
 *
 * Mid-stage checkpoints (so a retried or resumed attempt continues instead of restarting):
 * the program writes its state into $RT_CHECKPOINT_DIR and prints `::checkpoint STEP`; the runner
 * uploads that directory as the checkpoint at STEP. A later attempt finds the newest checkpoint
 * materialised at $RT_RESUME_DIR with its step in $RT_RESUME_STEP (both unset on a fresh start).
 */
import { cpSync, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { Json } from '../core/canonical-json';
import { PipelineError, errorMessage } from '../core/errors';
import { redact, redactingStream } from '../core/redact';
import { spawnTiedGroup } from '../infra/tied-process';
import { commandDescriptor, type CommandConfig } from './command-config';
import { stageEnv, stageSecrets } from './command-env';
import { PLACEHOLDER, envName, unsafePlaceholders } from './command-script-rule';
import type { StageContext, StageImpl, StageResult } from './stage';

function paramText(v: Json): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Substitutes placeholders in one argv element; never goes through a shell. */
export function substitute(
  arg: string,
  vars: { inputs: Record<string, string>; outputs: Record<string, string>; params: Record<string, Json>; workdir: string },
): string {
  return arg.replace(PLACEHOLDER, (whole, scope: string, name: string | undefined) => {
    const fail = (why: string) => {
      throw new PipelineError('CONFIG_INVALID', `argv placeholder ${whole}: ${why}`);
    };
    if (scope === 'workdir' && name === undefined) return vars.workdir;
    if (name === undefined) return fail('needs a name, e.g. ${inputs.data}');
    if (scope === 'workdir') return fail('takes no name: write ${workdir}');
    const table = scope === 'inputs' ? vars.inputs : scope === 'outputs' ? vars.outputs : undefined;
    if (scope === 'params') {
      const v = vars.params[name];
      return v === undefined ? fail(`no param '${name}' (declared: ${Object.keys(vars.params).join(', ') || 'none'})`) : paramText(v);
    }
    const v = table?.[name];
    return v === undefined ? fail(`no ${scope.slice(0, -1)} named '${name}' (declared: ${Object.keys(table ?? {}).join(', ') || 'none'})`) : v;
  });
}

async function run(ctx: StageContext<CommandConfig>): Promise<StageResult> {
  const c = ctx.config;
  const outputs = Object.fromEntries(Object.entries(c.outputs).map(([k, rel]) => [k, path.join(ctx.workdir, rel)]));
  for (const p of Object.values(outputs)) await mkdir(path.dirname(p), { recursive: true });
  // Validation rejects these already; a plan from elsewhere (an old history, a hand-made one) must not slip through.
  const unsafe = c.shell ? [] : unsafePlaceholders(c.argv);
  if (unsafe.length > 0) throw new PipelineError('CONFIG_INVALID', `command stage refused: ${unsafe.map((u) => u.message).join('; ')}`);
  const vars = { inputs: { ...ctx.inputs }, outputs, params: c.params, workdir: ctx.workdir };
  const argv = c.shell ? ['/bin/sh', '-c', c.argv[0] ?? ''] : c.argv.map((a) => substitute(a, vars));
  // Not the worker's environment: an allow-list plus what the config names (command-env.ts).
  const base = stageEnv(process.env, c);
  // Secrets the program was given on purpose (passEnv, env) stay out of what it reports, like the worker's own.
  const secrets = stageSecrets(base);
  const env: NodeJS.ProcessEnv = {
    ...base,
    ...(c.metricsFile === undefined ? {} : { RT_METRICS: path.join(ctx.workdir, c.metricsFile) }),
    RT_WORKDIR: ctx.workdir,
    RT_SEED: String(ctx.seed),
    RT_ATTEMPT: String(ctx.attempt),
  };
  for (const [k, v] of Object.entries(ctx.inputs)) env[envName('RT_INPUT_', k)] = v;
  for (const [k, v] of Object.entries(outputs)) env[envName('RT_OUTPUT_', k)] = v;
  for (const [k, v] of Object.entries(c.params)) env[envName('RT_PARAM_', k)] = paramText(v);

  const checkpointDir = path.join(ctx.workdir, '.checkpoint');
  await mkdir(checkpointDir, { recursive: true });
  env.RT_CHECKPOINT_DIR = checkpointDir;
  // The spec's checkpoint cadence (0 = none asked for): the program decides when to save, so it must be told.
  env.RT_CHECKPOINT_EVERY = String(ctx.checkpointEvery);
  const resume = await ctx.checkpoints.latest();
  if (resume !== undefined) {
    env.RT_RESUME_DIR = resume.dir;
    env.RT_RESUME_STEP = String(resume.step);
    ctx.log.info(`resuming from the checkpoint at step ${resume.step}`);
  }
  // Checkpoint uploads run one after another, in the order the program announced them.
  let saving: Promise<void> = Promise.resolve();
  let saveError: unknown;
  const saveCheckpoint = (step: number) => {
    // Snapshot at once: the program goes on writing its next checkpoint while this one uploads.
    const snapshot = path.join(ctx.workdir, '.checkpoint-snapshots', `step-${step}`);
    try {
      cpSync(checkpointDir, snapshot, { recursive: true });
    } catch (e) {
      saveError ??= e;
      return;
    }
    saving = saving
      .then(() => ctx.checkpoints.save(snapshot, step))
      .then(() => rm(snapshot, { recursive: true, force: true }))
      .catch((e: unknown) => {
        saveError ??= e;
      });
  };

  const logDir = path.join(ctx.workdir, '.logs');
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const stderrFile = path.join(logDir, 'stderr.log');
  const [cmd, ...args] = argv;
  if (cmd === undefined || cmd === '') throw new PipelineError('CONFIG_INVALID', 'command stage: argv[0] is empty');
  let logsWritten: Promise<void> = Promise.resolve();
  let logsFailed: unknown;
  const code = await new Promise<number | null>((resolve, reject) => {
    // Its own process group (a cancel reaches its children), tied to the worker: it dies with it.
    const child = spawnTiedGroup(cmd, args, { cwd: ctx.workdir, env });
    // Logs are the user's alone (0600), and secrets are redacted on their way in.
    const out = createWriteStream(path.join(logDir, 'stdout.log'), { mode: 0o600 });
    const err = createWriteStream(stderrFile, { mode: 0o600 });
    const outText = redactingStream(secrets);
    const errText = redactingStream(secrets);
    outText.pipe(out);
    errText.pipe(err);
    // Handled at once: a log write failing while the program runs (a full disk) must not become an
    // unhandled rejection, which would take the whole worker down.
    logsWritten = Promise.all([finished(out), finished(err)]).then(
      () => undefined,
      (e: unknown) => {
        logsFailed = e;
      },
    );
    let pending = '';
    child.stdout.on('data', (b: Buffer) => {
      outText.write(b);
      pending += b.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^::progress (\d+)(?:\/(\d+))?\s*(.*)$/.exec(line);
        if (m) ctx.progress({ step: Number(m[1]), total: m[2] === undefined ? undefined : Number(m[2]), message: m[3] ? redact(m[3], secrets) : undefined });
        const mm = /^::metrics\s+(.*)$/.exec(line);
        if (mm) ctx.progress({ metrics: parseMetricsLine(mm[1] ?? '') });
        const c = /^::checkpoint (\d+)\s*$/.exec(line);
        if (c) saveCheckpoint(Number(c[1]));
      }
    });
    child.stderr.pipe(errText);
    // Heartbeat even when the program prints nothing, so a live worker is never mistaken for a dead one.
    const beat = setInterval(() => ctx.progress({}), 2000);
    const kill = () => {
      // The child leads its own process group: kill the whole group so grandchildren die too.
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 5000).unref();
    };
    ctx.signal.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      clearInterval(beat);
      reject(new PipelineError('COMMAND_FAILED', `could not start '${cmd}': ${e.message}. Check argv[0] is installed and on PATH of the worker`, { cause: e }));
    });
    child.on('close', (exitCode, signal) => {
      clearInterval(beat);
      ctx.signal.removeEventListener('abort', kill);
      outText.end();
      resolve(signal ? null : exitCode);
    });
  });
  await saving;
  await logsWritten;
  if (logsFailed !== undefined)
    throw new PipelineError('COMMAND_FAILED', `could not write the program's logs in ${logDir}: ${errorMessage(logsFailed)}`, { cause: logsFailed });
  if (saveError !== undefined) throw saveError instanceof Error ? saveError : new PipelineError('INTERNAL', 'checkpoint upload failed');
  if (ctx.signal.aborted) throw new PipelineError('COMMAND_FAILED', `command '${cmd}' was stopped: the run was cancelled or this attempt lost its lease`);
  if (code === null || !c.successCodes.includes(code)) {
    const tail = redact((await readFile(stderrFile, 'utf8').catch(() => '')).trim().split('\n').slice(-20).join('\n'), secrets);
    throw new PipelineError(
      'COMMAND_FAILED',
      `command '${redact(argv.join(' '), secrets)}' exited with ${code === null ? 'a signal' : `code ${code}`}${tail ? `; stderr ends with:\n${tail}` : ' (no stderr)'}`,
    );
  }
  for (const [name, p] of Object.entries(outputs)) {
    const st = await stat(p).catch(() => undefined);
    if (st === undefined)
      throw new PipelineError('COMMAND_FAILED', `command finished but did not write its declared output '${name}' at ${path.relative(ctx.workdir, p)}`);
  }
  return { outputs, metrics: c.metricsFile === undefined ? undefined : await readMetrics(path.join(ctx.workdir, c.metricsFile)) };
}

async function readMetrics(file: string): Promise<Record<string, Json>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new PipelineError('COMMAND_FAILED', `command finished but did not write its metricsFile ${path.basename(file)}`);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new PipelineError('COMMAND_FAILED', `metricsFile ${path.basename(file)} is not valid JSON: ${String(e)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PipelineError('COMMAND_FAILED', `metricsFile ${path.basename(file)} must hold a JSON object of metric → value`);
  }
  return parsed as Record<string, Json>;
}

export const commandStage: StageImpl<CommandConfig> = { descriptor: commandDescriptor, run };

/** `loss=0.25 lr=1e-3` → {loss: 0.25, lr: 0.001}; words that are not name=number are ignored. */
export function parseMetricsLine(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const word of text.trim().split(/\s+/)) {
    const m = /^([A-Za-z_][\w./-]*)=(\S+)$/.exec(word);
    if (m?.[1] === undefined || m[2] === undefined) continue;
    const v = Number(m[2]);
    if (Number.isFinite(v)) out[m[1]] = v;
  }
  return out;
}
