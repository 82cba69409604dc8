/**
 * `robustok server provision|start|stop|status`: obtain the server binaries; run both servers in the
 * foreground, or in the background with `start --detach` (`stop` ends them, `status` says how they are).
 * `start` keeps its settings in <state dir>/servers/servers.json (0600): the ports (`--temporal-port`,
 * `--minio-port`; remembered, so addresses stay stable across restarts) and the MinIO credentials it
 * generated (MinIO's data is tied to its root credentials: a restart must reuse them). It prints what
 * a client needs — addresses, credentials, the Web UI — and exits non-zero when a server dies. While
 * the servers are up, running.json says where (cli/local-server.ts): `run` with no address uses them.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PipelineError } from '../../core/errors';
import { startMinioServer, type MinioServer } from '../../infra/minio-server';
import { provision } from '../../infra/provision';
import type { ServerProcess } from '../../infra/server-process';
import { startTemporalDevServer, temporalReady, type TemporalDevServer } from '../../infra/temporal-server';
import { minioAlive, processAlive, readRunning, recordedProcessAlive, removeRunning, runningFile, writeRunning, type LocalServer } from '../local-server';
import { readServerSettings, serverSettingsFile, type ServerSettings } from '../server-settings';
import { stateDir } from '../state-dir';

export async function provisionCommand(): Promise<number> {
  for (const name of ['temporal', 'minio'] as const) {
    const b = await provision(name, { log: (l) => console.error(l) });
    console.log(`${name}\t${b.version}\t${b.source}${b.origin && b.origin !== b.source ? ` (built by ${b.origin})` : ''}\t${b.path}`);
  }
  return 0;
}

function port(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new PipelineError('CONFIG_INVALID', `${flag} ${text} is not a TCP port (1-65535)`);
  return n;
}

export interface ServerStartOptions {
  temporalPort?: string;
  minioPort?: string;
  uiPort?: string;
  /** Start in the background and return once both servers answer. */
  detach?: boolean;
}

/** Both servers share one data folder per state folder: a second start would corrupt the first one's. */
function refuseSecondStart(): void {
  const r = readRunning();
  if (r !== undefined && recordedProcessAlive(r))
    throw new PipelineError(
      'SERVER_START_FAILED',
      `a local server is already running for ${stateDir()} (pid ${r.pid}, Temporal at ${r.address}): 'robustok server status' shows it, 'robustok server stop' stops it`,
    );
}

function printExports(temporalAddress: string, uiUrl: string | undefined, minioEndpoint: string, accessKey: string, secretKey: string): void {
  console.log(`export TEMPORAL_ADDRESS=${temporalAddress}`);
  console.log(`export ROBUSTOK_S3_ENDPOINT=${minioEndpoint}`);
  console.log(`export ROBUSTOK_S3_ACCESS_KEY=${accessKey}`);
  console.log(`export ROBUSTOK_S3_SECRET_KEY=${secretKey}`);
  console.log(`# Temporal Web UI: ${uiUrl ?? '(headless)'}`);
  console.log(`# ports and credentials are kept in ${serverSettingsFile()} (reused by the next start; --temporal-port/--minio-port change them)`);
}

export async function serverStartCommand(o: ServerStartOptions = {}): Promise<number> {
  refuseSecondStart();
  if (o.detach === true) return startDetached(o);
  const dir = path.join(stateDir(), 'servers');
  const log = (l: string) => console.error(l);
  const saved = await readServerSettings();
  // Credentials: the environment's if set, else the ones generated on a first start.
  const settings: ServerSettings = {
    temporalPort: port(o.temporalPort, '--temporal-port') ?? saved.temporalPort,
    uiPort: port(o.uiPort, '--ui-port') ?? saved.uiPort,
    minioPort: port(o.minioPort, '--minio-port') ?? saved.minioPort,
    accessKey: process.env.MINIO_ROOT_USER ?? saved.accessKey ?? `robustok-${randomBytes(4).toString('hex')}`,
    secretKey: process.env.MINIO_ROOT_PASSWORD ?? saved.secretKey ?? randomBytes(18).toString('base64url'),
  };
  const temporal = await startTemporalDevServer({ dataDir: path.join(dir, 'temporal'), log, port: settings.temporalPort, uiPort: settings.uiPort });
  let minio: MinioServer;
  try {
    minio = await startMinioServer({
      dataDir: path.join(dir, 'minio'),
      log,
      port: settings.minioPort,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
    });
  } catch (e) {
    await temporal.stop();
    throw e;
  }
  const used: ServerSettings = {
    ...settings,
    temporalPort: Number(temporal.address.split(':').pop()),
    uiPort: temporal.uiUrl === undefined ? undefined : Number(new URL(temporal.uiUrl).port),
    minioPort: Number(new URL(minio.endpoint).port),
  };
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(serverSettingsFile(), `${JSON.stringify(used, null, 2)}\n`, { mode: 0o600 });
  await chmod(serverSettingsFile(), 0o600);
  await writeRunning({
    pid: process.pid,
    address: temporal.address,
    namespace: temporal.namespace,
    uiUrl: temporal.uiUrl,
    minioEndpoint: minio.endpoint,
    startedAt: new Date().toISOString(),
  });
  printExports(temporal.address, temporal.uiUrl, minio.endpoint, minio.accessKey, minio.secretKey);
  console.log('# Ctrl-C stops both.');
  try {
    return await superviseServers(temporal, minio);
  } finally {
    await removeRunning(process.pid);
  }
}

/** The output of a detached start (the foreground start's stdout and stderr). */
function serverLogFile(): string {
  return path.join(stateDir(), 'servers', 'server.log');
}

/**
 * `server start --detach`: the same command in a background process of its own session (a closed
 * terminal or a Ctrl-C there does not reach it), its output in servers/server.log; returns once it
 * recorded both servers as up (running.json), or fails with its log's tail if it exits first.
 */
async function startDetached(o: ServerStartOptions): Promise<number> {
  const dir = path.join(stateDir(), 'servers');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const logFile = serverLogFile();
  const flags = [
    ...(o.temporalPort === undefined ? [] : ['--temporal-port', o.temporalPort]),
    ...(o.uiPort === undefined ? [] : ['--ui-port', o.uiPort]),
    ...(o.minioPort === undefined ? [] : ['--minio-port', o.minioPort]),
  ];
  const fd = openSync(logFile, 'w', 0o600);
  // This program again as it was started (compiled, or the sources under tsx's --import): argv[1] is its entry.
  const entry = process.argv[1];
  if (entry === undefined) throw new PipelineError('INTERNAL', 'cannot tell which program to start in the background (no process.argv[1])');
  const child = spawn(process.execPath, [...process.execArgv, entry, 'server', 'start', ...flags], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, ROBUSTOK_HOME: stateDir() },
  });
  closeSync(fd);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const deadline = Date.now() + 120_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    if (readRunning()?.pid === child.pid) break;
    const tail = () => readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
    if (exited !== undefined)
      throw new PipelineError(
        'SERVER_START_FAILED',
        `the background server exited (code ${String(exited)}) before it was up. Its log (${logFile}):\n${tail()}`,
      );
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new PipelineError('SERVER_START_FAILED', `the background server was not up after 120 s; stopped it. Its log (${logFile}):\n${tail()}`);
    }
  }
  child.unref();
  const r = readRunning() as LocalServer;
  const saved = await readServerSettings();
  printExports(r.address, r.uiUrl, r.minioEndpoint, saved.accessKey ?? '', saved.secretKey ?? '');
  console.log(`# running in the background (pid ${r.pid}, log ${logFile}); 'robustok run' with no TEMPORAL_ADDRESS uses it; 'robustok server stop' stops it.`);
  return 0;
}

/** `server stop`: ends the local server (both servers stop with it); nothing running is not an error. */
export async function serverStopCommand(o: { json?: boolean } = {}): Promise<number> {
  const r = readRunning();
  const say = (text: string, fields: Record<string, unknown>) => (o.json ? console.log(JSON.stringify(fields)) : console.error(text));
  if (r === undefined || !recordedProcessAlive(r)) {
    if (r !== undefined) await rm(runningFile(), { force: true });
    say(`no local server is running for ${stateDir()}`, { stopped: false, running: false });
    return 0;
  }
  process.kill(r.pid, 'SIGTERM');
  // It stops Temporal and MinIO first (each up to 10 s before a SIGKILL), then exits.
  const deadline = Date.now() + 30_000;
  while (processAlive(r.pid) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  if (processAlive(r.pid)) process.kill(r.pid, 'SIGKILL'); // its servers get their parent-death signal
  await rm(runningFile(), { force: true });
  say(`stopped the local server (pid ${r.pid}, Temporal at ${r.address}, MinIO at ${r.minioEndpoint})`, { stopped: true, pid: r.pid });
  return 0;
}

async function temporalAnswers(address: string, namespace: string): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    temporalReady(address, namespace).catch(() => false),
    new Promise<false>((res) => (timer = setTimeout(() => res(false), 3000))),
  ]).finally(() => clearTimeout(timer));
}

/** `server status`: exit 0 when the local server runs and both servers answer, 1 otherwise. */
export async function serverStatusCommand(o: { json?: boolean } = {}): Promise<number> {
  const r = readRunning();
  if (r === undefined || !recordedProcessAlive(r)) {
    if (o.json) console.log(JSON.stringify({ running: false, stateDir: stateDir() }));
    else console.log(`no local server is running for ${stateDir()} ('robustok server start --detach' starts one)`);
    return 1;
  }
  const [temporal, minio] = await Promise.all([temporalAnswers(r.address, r.namespace), minioAlive(r.minioEndpoint)]);
  const healthy = temporal && minio;
  const log = serverLogFile();
  if (o.json) console.log(JSON.stringify({ running: true, healthy, temporal, minio, ...r, log }, null, 2));
  else {
    const state = (ok: boolean) => (ok ? 'answers' : 'NOT ANSWERING');
    console.log(`local server: pid ${r.pid}, up since ${r.startedAt}${healthy ? '' : ' — unhealthy'}`);
    console.log(`  Temporal  ${r.address} (namespace ${r.namespace}): ${state(temporal)}`);
    console.log(`  Web UI    ${r.uiUrl ?? '(headless)'}`);
    console.log(`  MinIO     ${r.minioEndpoint}: ${state(minio)}`);
    console.log(`  log       ${log}`);
  }
  return healthy ? 0 : 1;
}

/** Waits for Ctrl-C (exit 0) or for a server to die on its own (exit 1, naming it and its log). */
async function superviseServers(temporal: TemporalDevServer, minio: MinioServer): Promise<number> {
  const died = (label: string, s: { process: ServerProcess }) =>
    new Promise<string>((resolve) =>
      s.process.child.once('exit', (code, signal) => resolve(`${label} exited (${signal ?? `code ${String(code)}`}); its log: ${s.process.logFile}`)),
    );
  const stopRequested = new Promise<undefined>((resolve) => {
    process.once('SIGINT', () => resolve(undefined));
    process.once('SIGTERM', () => resolve(undefined));
  });
  const why = await Promise.race([stopRequested, died('the Temporal dev server', temporal), died('MinIO', minio)]);
  await Promise.all([temporal.stop(), minio.stop()]);
  if (why === undefined) return 0;
  console.error(`error [SERVER_DIED]: ${why}; the other server was stopped`);
  return 1;
}
