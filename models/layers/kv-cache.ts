/**
 * Keys and values of the positions already decoded, per attention layer, for incremental (one token per
 * step) sampling: step t attends over the t cached positions plus itself instead of recomputing them.
 *
 * tfjs tensors are immutable, so each append concatenates and frees the previous tensors; that copies
 * O(T) per step (O(T²) bytes over a 256-token sequence), negligible next to the attention matmuls.
 */
import * as tf from '@tensorflow/tfjs';

export class KVCache {
  private k: tf.Tensor | undefined; // [B, nh, T, hs]
  private v: tf.Tensor | undefined; // [B, nh, T, hs]

  /** Number of cached positions. */
  get length(): number {
    return this.k?.shape[2] ?? 0;
  }

  /**
   * Appends [B, nh, t, hs] keys/values and returns the full [B, nh, T + t, hs] tensors. The returned
   * tensors are owned by the cache (kept out of any enclosing tidy); callers must not dispose them.
   */
  append(k: tf.Tensor, v: tf.Tensor): { k: tf.Tensor; v: tf.Tensor } {
    const nk = tf.keep(this.k ? tf.concat([this.k, k], 2) : k.clone()); // [B, nh, T, hs] ++ [B, nh, t, hs]
    const nv = tf.keep(this.v ? tf.concat([this.v, v], 2) : v.clone());
    this.k?.dispose();
    this.v?.dispose();
    this.k = nk;
    this.v = nv;
    return { k: nk, v: nv };
  }

  /** Frees the cached tensors; the cache can then be reused for a new sequence. */
  reset(): void {
    this.k?.dispose();
    this.v?.dispose();
    this.k = undefined;
    this.v = undefined;
  }

  dispose(): void {
    this.reset();
  }
}
