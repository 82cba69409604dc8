/**
 * The backend initBackend() (compute/backend.ts) chose in this process, kept where importing it loads no
 * tfjs: a worker asks after every stage whether one exists, and a process whose stages never touched
 * tensors (commands, an all-cached re-run) should not load tfjs to hear "no".
 */
import type { BackendInfo } from './backend';

let recorded: BackendInfo | undefined;

export function recordBackend(info: BackendInfo): void {
  recorded = info;
}

/** The backend in use, or undefined before initBackend() completed. */
export function recordedBackend(): BackendInfo | undefined {
  return recorded;
}
