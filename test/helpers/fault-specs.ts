/** Shared by the clear-errors fault tests: a one-`command`-stage spec and the "no stack trace" check. */
import assert from 'node:assert/strict';
import path from 'node:path';

export const STEP = path.resolve(__dirname, '..', 'fixtures', 'commands', 'step.js');

/** Fails when `text` holds a stack frame line (`    at fn (file:1:2)`). */
export const noTrace = (text: string) => assert.doesNotMatch(text, /^\s+at .+:\d+:\d+\)?$/m, `a stack trace was printed:\n${text}`);

/** A spec with one command stage `s` running `argv`, writing out.txt, retried once; `extra` is appended. */
export function commandSpec(name: string, argv: readonly string[], extra = ''): string {
  return `apiVersion: robustok.dev/v1
name: ${name}
defaults:
  retry: {maximumAttempts: 2, initialInterval: 100ms}
stages:
  s:
    kind: command
    config:
      argv: ${JSON.stringify(argv)}
      outputs: {out: out.txt}
${extra}`;
}
