/**
 * Exponential moving average of weights (the tokenizer keeps one with decay 0.9999, updated after each
 * generator step over every named parameter, frozen ones included): ema ← d·ema + (1 − d)·θ.
 * Shadow tensors have the model's names, so an EMA checkpoint is a state dict of the same model
 * (upstream stores it under the `ema` key; converted checkpoints under an `ema.` prefix).
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';

export class Ema {
  private readonly shadow = new Map<string, tf.Variable>();
  updates = 0;

  constructor(
    private readonly params: Map<string, tf.Variable>,
    readonly decay: number,
  ) {
    if (!(decay >= 0 && decay <= 1)) throw new PipelineError('CONFIG_INVALID', `EMA decay must be in [0, 1], got ${decay}`);
    for (const [n, p] of params) this.shadow.set(n, tf.variable(p, false));
  }

  /** One EMA step from the current parameter values. */
  update(): void {
    for (const [n, p] of this.params) {
      const s = this.shadow.get(n) as tf.Variable;
      const next = tf.tidy(() => s.mul(this.decay).add(p.mul(1 - this.decay)));
      s.assign(next);
      next.dispose();
    }
    this.updates++;
  }

  /** Shadow weights by parameter name (owned by the Ema). */
  tensors(): Map<string, tf.Variable> {
    return this.shadow;
  }

  /** Copies the shadow weights into `target` (e.g. an eval copy of the model), matched by name. */
  copyTo(target: Map<string, tf.Variable>): void {
    for (const [n, t] of target) {
      const s = this.shadow.get(n);
      if (!s) throw new PipelineError('CHECKPOINT_MISMATCH', `EMA has no weight named ${n}`);
      t.assign(s);
    }
  }

  /** Restores shadow weights (e.g. from a checkpoint's `ema.` tensors); copies, the caller keeps ownership. */
  load(tensors: Map<string, tf.Tensor>): void {
    for (const [n, t] of tensors) {
      const s = this.shadow.get(n);
      if (!s) throw new PipelineError('CHECKPOINT_MISMATCH', `EMA state "${n}" names no parameter of this model`);
      if (s.shape.join() !== t.shape.join())
        throw new PipelineError('CHECKPOINT_MISMATCH', `EMA state "${n}" is [${t.shape.join(', ')}], parameter is [${s.shape.join(', ')}]`);
      s.assign(t);
    }
  }

  dispose(): void {
    for (const s of this.shadow.values()) s.dispose();
    this.shadow.clear();
  }
}
