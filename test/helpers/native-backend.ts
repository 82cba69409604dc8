/**
 * Tests that check something on tfjs-node: switch to it where it is installed, skip (with a diagnostic
 * saying so) where it is not, and leave the backend as it was found.
 */
import type { TestContext } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../compute/backend';

/** Switches to tfjs-node; false where it cannot be loaded (the backend is then unchanged). */
export async function useNativeBackend(): Promise<boolean> {
  try {
    await initBackend({ backend: 'tensorflow', log: null });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` on tfjs-node, then restores the backend that was active before (also when `fn` throws or
 * switched backends itself). Without tfjs-node, `fn` does not run and `skipped` goes to the test's diagnostics.
 */
export async function onNativeBackend(t: TestContext, fn: () => unknown, skipped = 'tfjs-node not available: nothing to check'): Promise<void> {
  const previous = tf.getBackend();
  if (!(await useNativeBackend())) {
    t.diagnostic(skipped);
    return;
  }
  try {
    await fn();
  } finally {
    if (previous) await tf.setBackend(previous);
  }
}
