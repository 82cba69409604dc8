/**
 * Secrets the worker holds (store credentials, TLS key material, anything in its environment named
 * like a secret) must never leave a stage run in text: error messages, stderr tails, heartbeat
 * details, log lines and run records go through redact(), which replaces every known secret value
 * with `***`. Components that learn a secret some other way (a store opened with explicit
 * credentials) register it with addSecret().
 *
 * Not for workflows/ (reads the environment and files).
 */
import { existsSync, readFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { Transform } from 'node:stream';

export const REDACTED = '***';

/** Env names whose values are treated as secrets. */
export const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|KEY/i;

/** Shorter values are flags or small numbers; replacing them would garble every message. */
const MIN_SECRET_LENGTH = 8;

const known = new Set<string>();
const pemCache = new Map<string, string[]>();

export function addSecret(value: string | undefined): void {
  if (value === undefined) return;
  const v = value.trim();
  if (v.length >= MIN_SECRET_LENGTH) known.add(v);
}

/** Is `value`, held under env name `name`, a secret to redact? A path to an existing file is not (its contents may be). */
export function isSecretEnv(name: string, value: string | undefined): boolean {
  return value !== undefined && SECRET_NAME.test(name) && value.trim().length >= MIN_SECRET_LENGTH && !(value.startsWith('/') && existsSync(value));
}

/** The lines of a PEM file worth hiding (its base64 body), plus the whole text. */
function pemSecrets(file: string): string[] {
  let got = pemCache.get(file);
  if (got === undefined) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // unreadable here: nothing of it can leak from here either
    }
    got =
      text === ''
        ? []
        : [
            text,
            ...text
              .split('\n')
              .map((l) => l.trim())
              .filter((l) => l.length >= 16 && !l.startsWith('-----')),
          ];
    pemCache.set(file, got);
  }
  return got;
}

/** The secrets of an environment: secret-named values, and the contents of the TLS private key it names. */
export function secretsOfEnv(env: NodeJS.ProcessEnv): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(env)) if (value !== undefined && isSecretEnv(name, value)) out.push(value.trim());
  if (env.TEMPORAL_TLS_KEY) out.push(...pemSecrets(env.TEMPORAL_TLS_KEY));
  return out;
}

function secrets(extra: Iterable<string>): string[] {
  // The worker's environment is read on every call (cheap): a secret set after start still counts.
  const all = new Set([...known, ...secretsOfEnv(process.env)]);
  for (const e of extra) if (e.trim().length >= MIN_SECRET_LENGTH) all.add(e.trim());
  // Longest first, so a secret containing another is replaced whole.
  return [...all].sort((a, b) => b.length - a.length);
}

/** `text` with every known secret (and every `extra` one) replaced by `***`. */
export function redact(text: string, extra: Iterable<string> = []): string {
  let out = text;
  for (const s of secrets(extra)) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/**
 * A copy of an error safe to hand on: message, stack and cause chain redacted. Keeps `name` and
 * own enumerable fields (e.g. a PipelineError's code), redacting strings among them.
 */
export function redactError<E>(e: E, extra: Iterable<string> = []): E {
  if (!(e instanceof Error)) return e;
  const list = [...extra];
  const copy = Object.create(Object.getPrototypeOf(e) as object) as Error & Record<string, unknown>;
  for (const [k, v] of Object.entries(e)) copy[k] = typeof v === 'string' ? redact(v, list) : v;
  Object.defineProperty(copy, 'message', { value: redact(e.message, list), writable: true, configurable: true });
  Object.defineProperty(copy, 'stack', { value: e.stack === undefined ? undefined : redact(e.stack, list), writable: true, configurable: true });
  if (e.cause !== undefined) Object.defineProperty(copy, 'cause', { value: redactError(e.cause, list), writable: true, configurable: true });
  return copy as E;
}

/**
 * A text stream with secrets redacted, line by line (a secret split across two writes is still
 * caught). A line longer than 64 KiB is passed on in pieces, keeping back enough to match across them.
 */
export function redactingStream(extra: readonly string[] = []): Transform {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      // Whole secrets are gone after this; only the start of one can remain, within the kept tail.
      const text = redact(carry + decoder.write(chunk), extra);
      let cut = text.lastIndexOf('\n') + 1;
      if (text.length - cut > 65_536) cut = text.length - Math.max(0, ...secrets(extra).map((s) => s.length));
      carry = text.slice(cut);
      done(null, text.slice(0, cut));
    },
    flush(done) {
      done(null, redact(carry + decoder.end(), extra));
    },
  });
}
