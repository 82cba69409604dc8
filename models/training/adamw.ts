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
import { nativeOpsBackend, type NativeOpAttr } from '../../compute/native-ops';
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

/**
 * Parameters updated together: one decay class, at most FLAT_GROUP_ELEMENTS elements. Their moments
 * live in two flat variables, so a step costs ~20 kernels per group plus a reshape, concat slot, split
 * slot and assign per parameter, instead of ~17 kernels per parameter (1300 of the smoke tokenizer
 * step's 3000). The arithmetic per element is unchanged, so updates are bit-identical to the
 * per-parameter form; the cap bounds the transient flat copies of gradients and parameters.
 */
interface FlatGroup {
  readonly names: string[];
  readonly shapes: number[][];
  readonly sizes: number[];
  readonly weightDecay: number;
  readonly m: tf.Variable; // [Σ sizes]
  readonly v: tf.Variable; // [Σ sizes]
}

/** Elements per flat group: 16M floats = 64 MB per transient copy. */
export const FLAT_GROUP_ELEMENTS = 16 * 1024 * 1024;

export class AdamW {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly params: Map<string, tf.Variable>;
  private readonly decay = new Map<string, boolean>();
  /** Moments of parameters not in a flat group (restored from a checkpoint, or the layout changed). */
  private readonly loose = new Map<string, { m?: tf.Tensor; v?: tf.Tensor }>();
  private groups: FlatGroup[] = [];
  /** The updated parameter names the flat groups were built for, in order (joined). */
  private layoutKey = '';
  /** Per-parameter views handed out by stateTensors(), freed at the next call or dispose(). */
  private views: tf.Tensor[] = [];
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
    this.update(grads, lr, null);
  }

  /**
   * applyGradients after global-norm clipping (clip.ts's clipByGlobalNorm: every gradient scaled by
   * min(1, maxNorm / (N + 1e-6)), N = ‖all of `grads`‖₂), done on the flat group vectors this step builds
   * anyway: one Square, Sum and Mul per group instead of per parameter (264 of a RAR smoke step's 1427
   * kernels). The scaled gradients are bit-identical to clipByGlobalNorm's; N differs by float32 rounding
   * (summed over a group's flat vector rather than per parameter). Returns N (the caller disposes it).
   */
  applyClippedGradients(grads: Map<string, tf.Tensor>, maxNorm: number, lr = this.lr): tf.Scalar {
    if (!(maxNorm > 0)) throw new PipelineError('CONFIG_INVALID', `AdamW: clipping norm must be > 0, got ${maxNorm} (use applyGradients not to clip)`);
    return this.update(grads, lr, maxNorm) as tf.Scalar;
  }

  private update(grads: Map<string, tf.Tensor>, lr: number, maxNorm: number | null): tf.Scalar | null {
    for (const name of grads.keys()) {
      if (!this.params.has(name)) throw new PipelineError('INTERNAL', `AdamW: gradient for unknown parameter "${name}"`);
    }
    const updated: string[] = [];
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g || !p.trainable) continue;
      if (g.shape.join() !== p.shape.join())
        throw new PipelineError('TENSOR_SHAPE', `AdamW: gradient of ${name} is [${g.shape.join(', ')}], parameter is [${p.shape.join(', ')}]`);
      updated.push(name);
    }
    this.t += 1;
    tf.dispose(this.views); // stateTensors()'s copies of the moments this step replaces
    this.views = [];
    if (updated.join('\n') !== this.layoutKey) this.relayout(updated);
    const bc1 = 1 - Math.pow(this.beta1, this.t);
    const bc2 = 1 - Math.pow(this.beta2, this.t);
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    let norm: tf.Scalar | null = null;
    tf.tidy(() => {
      // a reshape is a TensorFlow kernel on the native backend even when it changes nothing: 1-D tensors skip it
      const vec = (t: tf.Tensor) => (t.rank === 1 ? t : t.reshape([-1])); // [...shape] -> [size]
      const flat = (ts: tf.Tensor[]) => (ts.length === 1 ? vec(ts[0]!) : tf.concat(ts.map(vec))); // -> [Σ sizes]
      const flatGrad = (grp: FlatGroup) => flat(grp.names.map((n) => grads.get(n)!));
      let flatGrads: tf.Tensor[] | null = null;
      let coef: tf.Scalar | null = null;
      if (maxNorm !== null) {
        // the norm needs every group's gradient before any update; without clipping each group's flat copy is transient
        flatGrads = this.groups.map(flatGrad);
        const grouped = new Set(this.groups.flatMap((g) => g.names));
        // gradients of frozen parameters count towards the norm, as in clipByGlobalNorm
        const rest = [...grads].filter(([n]) => !grouped.has(n)).map(([, g]) => g);
        const parts = [...flatGrads, ...rest].map((g) => g.square().sum<tf.Scalar>());
        const total = (parts.length === 0 ? tf.scalar(0) : parts.length === 1 ? parts[0]! : tf.addN(parts)).sqrt<tf.Scalar>();
        coef = tf.minimum<tf.Scalar>(tf.scalar(1), tf.scalar(maxNorm).div(total.add(1e-6)));
        norm = tf.keep(total);
      }
      this.groups.forEach((grp, gi) => {
        const raw = flatGrads?.[gi] ?? flatGrad(grp);
        const p = flat(grp.names.map((n) => this.params.get(n)!));
        const ops = nativeOpsBackend(p);
        let nm: tf.Tensor, nv: tf.Tensor, np: tf.Tensor;
        if (ops) {
          // one kernel for the ~13 below, bit-identical to them (native/robustok-ops/adamw.cc)
          const f = (name: string, value: number) => ({ name, type: ops.binding.TF_ATTR_FLOAT, value });
          const b = (name: string, value: boolean) => ({ name, type: ops.binding.TF_ATTR_BOOL, value });
          const attrs: NativeOpAttr[] = [
            f('beta1', this.beta1),
            f('one_minus_beta1', 1 - this.beta1),
            f('beta2', this.beta2),
            f('one_minus_beta2', 1 - this.beta2),
            f('eps', this.eps),
            b('clip', coef !== null),
            b('decay', grp.weightDecay !== 0),
          ];
          const hyper = tf.tensor1d([1 - lr * grp.weightDecay, stepSize, sqrtBc2]);
          [np, nm, nv] = ops.executeMultipleOutputs('RobustokAdamW', attrs, [p, grp.m, grp.v, raw, coef ?? tf.scalar(1), hyper], 3) as [
            tf.Tensor,
            tf.Tensor,
            tf.Tensor,
          ];
        } else {
          const g = coef === null ? raw : raw.mul(coef);
          nm = grp.m.mul(this.beta1).add(g.mul(1 - this.beta1));
          nv = grp.v.mul(this.beta2).add(g.square().mul(1 - this.beta2));
          const decayed = grp.weightDecay === 0 ? p : p.mul(1 - lr * grp.weightDecay);
          const denom = nv.sqrt().div(sqrtBc2).add(this.eps);
          np = decayed.sub(nm.div(denom).mul(stepSize));
        }
        grp.m.assign(nm);
        grp.v.assign(nv);
        const pieces = grp.names.length === 1 ? [np] : tf.split(np, grp.sizes);
        grp.names.forEach((n, i) => {
          const shape = grp.shapes[i]!;
          // [size] -> parameter shape
          this.params.get(n)!.assign(shape.length === 1 ? pieces[i]! : pieces[i]!.reshape(shape));
        });
      });
    });
    return norm;
  }

  /**
   * Flat groups for the parameters updated this step, in parameter order. Moments carry over by name
   * (from the old groups or a restored checkpoint); parameters seen for the first time start at zero.
   */
  private relayout(updated: string[]): void {
    this.unflatten();
    const byClass = new Map<boolean, string[][]>([
      [true, []],
      [false, []],
    ]);
    for (const name of updated) {
      const chunks = byClass.get(this.decay.get(name) === true)!;
      const last = chunks[chunks.length - 1];
      const size = this.params.get(name)!.size;
      const used = last?.reduce((a, n) => a + this.params.get(n)!.size, 0) ?? 0;
      if (last !== undefined && used + size <= FLAT_GROUP_ELEMENTS) last.push(name);
      else chunks.push([name]);
    }
    for (const [decays, chunks] of byClass) {
      for (const names of chunks) {
        const shapes = names.map((n) => [...this.params.get(n)!.shape]);
        const sizes = names.map((n) => this.params.get(n)!.size);
        const moment = (which: 'm' | 'v') => {
          const flatInit = tf.tidy(() => tf.concat(names.map((n, i) => (this.loose.get(n)?.[which] ?? tf.zeros(shapes[i]!)).reshape([-1])))); // -> [Σ sizes]
          const v = tf.variable(flatInit, false);
          flatInit.dispose();
          return v;
        };
        this.groups.push({ names, shapes, sizes, weightDecay: decays ? this.weightDecay : 0, m: moment('m'), v: moment('v') });
        for (const n of names) {
          const l = this.loose.get(n);
          tf.dispose([l?.m, l?.v].filter((t): t is tf.Tensor => t !== undefined));
          this.loose.delete(n);
        }
      }
    }
    this.groups.sort((a, b) => updated.indexOf(a.names[0]!) - updated.indexOf(b.names[0]!));
    this.layoutKey = updated.join('\n');
  }

  /** Moves every flat group's moments back to per-parameter tensors (before a relayout or a restore). */
  private unflatten(): void {
    for (const grp of this.groups) {
      for (const which of ['m', 'v'] as const) {
        const pieces = tf.tidy(() => (grp.names.length === 1 ? [grp[which].clone()] : tf.split(grp[which], grp.sizes)));
        grp.names.forEach((n, i) => {
          const shaped = pieces[i]!.reshape(grp.shapes[i]!); // [size] -> parameter shape
          const entry = this.loose.get(n) ?? {};
          entry[which] = shaped;
          this.loose.set(n, entry);
        });
        tf.dispose(pieces);
      }
      grp.m.dispose();
      grp.v.dispose();
    }
    this.groups = [];
    this.layoutKey = '';
  }

  /**
   * Moment tensors by checkpoint name (`exp_avg.<param>`, `exp_avg_sq.<param>`). Owned by the
   * optimizer: valid until the next stateTensors(), step or dispose().
   */
  stateTensors(): Map<string, tf.Tensor> {
    tf.dispose(this.views);
    this.views = [];
    const out = new Map<string, tf.Tensor>();
    for (const grp of this.groups) {
      for (const [which, key] of [
        ['m', 'exp_avg'],
        ['v', 'exp_avg_sq'],
      ] as const) {
        const pieces = tf.tidy(() => (grp.names.length === 1 ? [grp[which].clone()] : tf.split(grp[which], grp.sizes)));
        grp.names.forEach((n, i) => {
          const shaped = pieces[i]!.reshape(grp.shapes[i]!); // [size] -> parameter shape
          this.views.push(shaped);
          out.set(`${key}.${n}`, shaped);
        });
        tf.dispose(pieces);
      }
    }
    for (const [n, l] of this.loose) {
      if (l.m) out.set(`exp_avg.${n}`, l.m);
      if (l.v) out.set(`exp_avg_sq.${n}`, l.v);
    }
    return out;
  }

  getState(): AdamWState {
    return { step: this.t };
  }

  /** Restores moments and the step count (copies the tensors; the caller keeps ownership of `tensors`). */
  loadState(state: AdamWState, tensors: Map<string, tf.Tensor>): void {
    for (const [key, t] of tensors) {
      const [, name] = splitKey(key);
      const p = this.params.get(name);
      if (!p) throw new PipelineError('CHECKPOINT_MISMATCH', `optimizer state "${key}" names no parameter of this model`);
      if (t.shape.join() !== p.shape.join())
        throw new PipelineError('CHECKPOINT_MISMATCH', `optimizer state "${key}" is [${t.shape.join(', ')}], parameter is [${p.shape.join(', ')}]`);
    }
    if (tensors.size > 0) this.unflatten();
    for (const [key, t] of tensors) {
      const [kind, name] = splitKey(key);
      const entry = this.loose.get(name) ?? {};
      const which = kind === 'exp_avg' ? 'm' : 'v';
      entry[which]?.dispose();
      entry[which] = t.clone();
      this.loose.set(name, entry);
    }
    this.t = state.step;
  }

  dispose(): void {
    tf.dispose(this.views);
    this.views = [];
    for (const grp of this.groups) tf.dispose([grp.m, grp.v]);
    this.groups = [];
    this.layoutKey = '';
    for (const l of this.loose.values()) tf.dispose([l.m, l.v].filter((t): t is tf.Tensor => t !== undefined));
    this.loose.clear();
  }
}

function splitKey(key: string): ['exp_avg' | 'exp_avg_sq', string] {
  for (const kind of ['exp_avg_sq', 'exp_avg'] as const) if (key.startsWith(`${kind}.`)) return [kind, key.slice(kind.length + 1)];
  throw new PipelineError('CHECKPOINT_MISMATCH', `unknown optimizer state key "${key}" (expected exp_avg.<param> or exp_avg_sq.<param>)`);
}
