/**
 * AdamW (Loshchilov & Hutter) with decoupled weight decay, written out rather than tf.train.adam
 * because (1) tfjs' Adam has no decoupled decay, (2) we need parameter groups (no decay for norms,
 * biases, embeddings — decided by name and shape, as RAR does), and (3) its moment variables have
 * process-unique names, while ours are saved under `exp_avg.<param>` / `exp_avg_sq.<param>` so a resumed
 * run continues bit-exactly. The update is PyTorch's torch.optim.AdamW (non-amsgrad):
 *
 *   p ← p·(1 − lr·wd)                       (decay group only)
 *   m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';

export interface AdamWOptions {
  /** Default lr when step() is not given one (schedules pass theirs per step). */
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** True for parameters excluded from weight decay. Default: none excluded. */
  noDecay?: (name: string, shape: readonly number[]) => boolean;
}

/** RAR's rule (`utils/train_utils.py`): ndim < 2, or the name contains one of these substrings. */
export const RAR_NO_DECAY_KEYWORDS = ['ln', 'bias', 'latent_tokens', 'mask_token', 'embedding', 'norm', 'gamma', 'embed'] as const;

export function noDecayByNameAndShape(keywords: readonly string[] = RAR_NO_DECAY_KEYWORDS): (name: string, shape: readonly number[]) => boolean {
  return (name, shape) => shape.length < 2 || keywords.some((k) => name.includes(k));
}

export interface AdamWState {
  step: number;
}

export class AdamW {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly params: Map<string, tf.Variable>;
  private readonly decay = new Map<string, boolean>();
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;

  /** `params`: the parameters to optimise by name (frozen ones are skipped at each step). */
  constructor(params: Map<string, tf.Variable>, o: AdamWOptions) {
    this.params = params;
    this.lr = o.lr;
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0.01;
    for (const [name, p] of params) this.decay.set(name, !(o.noDecay?.(name, p.shape) ?? false));
  }

  /** Completed steps (PyTorch's `state['step']`). */
  get step(): number {
    return this.t;
  }

  /** Names in the weight-decay group (for logging the grouping, as upstream prints it). */
  decayedNames(): string[] {
    return [...this.decay].filter(([, d]) => d).map(([n]) => n);
  }

  /**
   * One update from gradients keyed by parameter name. Parameters without a gradient are left
   * untouched (no decay either, as in PyTorch where grad is None). Does not dispose `grads`.
   */
  applyGradients(grads: Map<string, tf.Tensor>, lr = this.lr): void {
    for (const name of grads.keys()) {
      if (!this.params.has(name)) throw new PipelineError('INTERNAL', `AdamW: gradient for unknown parameter "${name}"`);
    }
    this.t += 1;
    const bc1 = 1 - Math.pow(this.beta1, this.t);
    const bc2 = 1 - Math.pow(this.beta2, this.t);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g || !p.trainable) continue;
      if (g.shape.join() !== p.shape.join())
        throw new PipelineError('TENSOR_SHAPE', `AdamW: gradient of ${name} is [${g.shape.join(', ')}], parameter is [${p.shape.join(', ')}]`);
      const m = this.moment(this.m, name, p);
      const v = this.moment(this.v, name, p);
      const wd = this.decay.get(name) ? this.weightDecay : 0;
      const [nm, nv, np] = tf.tidy((): [tf.Tensor, tf.Tensor, tf.Tensor] => {
        const nm = m.mul(this.beta1).add(g.mul(1 - this.beta1));
        const nv = v.mul(this.beta2).add(g.square().mul(1 - this.beta2));
        const decayed = wd === 0 ? p : p.mul(1 - lr * wd);
        const denom = nv.sqrt().div(sqrtBc2).add(this.eps);
        return [nm, nv, decayed.sub(nm.div(denom).mul(stepSize))];
      });
      m.assign(nm);
      v.assign(nv);
      p.assign(np);
      tf.dispose([nm, nv, np]);
    }
  }

  private moment(store: Map<string, tf.Variable>, name: string, p: tf.Variable): tf.Variable {
    let s = store.get(name);
    if (!s) {
      const z = tf.zerosLike(p);
      s = tf.variable(z, false);
      z.dispose();
      store.set(name, s);
    }
    return s;
  }

  /** Moment tensors by checkpoint name (`exp_avg.<param>`, `exp_avg_sq.<param>`). Owned by the optimizer. */
  stateTensors(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [n, t] of this.m) out.set(`exp_avg.${n}`, t);
    for (const [n, t] of this.v) out.set(`exp_avg_sq.${n}`, t);
    return out;
  }

  getState(): AdamWState {
    return { step: this.t };
  }

  /** Restores moments and the step count (copies the tensors; the caller keeps ownership of `tensors`). */
  loadState(state: AdamWState, tensors: Map<string, tf.Tensor>): void {
    for (const [key, t] of tensors) {
      const [kind, name] = splitKey(key);
      const p = this.params.get(name);
      if (!p) throw new PipelineError('CHECKPOINT_MISMATCH', `optimizer state "${key}" names no parameter of this model`);
      if (t.shape.join() !== p.shape.join())
        throw new PipelineError('CHECKPOINT_MISMATCH', `optimizer state "${key}" is [${t.shape.join(', ')}], parameter is [${p.shape.join(', ')}]`);
      this.moment(kind === 'exp_avg' ? this.m : this.v, name, p).assign(t);
    }
    this.t = state.step;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

function splitKey(key: string): ['exp_avg' | 'exp_avg_sq', string] {
  for (const kind of ['exp_avg_sq', 'exp_avg'] as const) if (key.startsWith(`${kind}.`)) return [kind, key.slice(kind.length + 1)];
  throw new PipelineError('CHECKPOINT_MISMATCH', `unknown optimizer state key "${key}" (expected exp_avg.<param> or exp_avg_sq.<param>)`);
}
