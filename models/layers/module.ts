/**
 * The base of every layer: a plain TS class holding tf.Variables under stable dotted names that equal
 * the upstream PyTorch state-dict names (`blocks.0.attn.qkv.weight`), so a converted checkpoint maps
 * onto a model one-to-one with no renaming table.
 *
 * Why not tfjs-layers (`tf.layers.Layer` + serialization.registerClass)? Its weight names are
 * auto-uniquified per process (`dense_Dense3/kernel`), its Dense kernel is [in, out] while PyTorch is
 * [out, in], it has no KV cache / customGrad-friendly call path, and its JSON topology format is not
 * what we checkpoint. Our checkpoints are safetensors keyed by the PyTorch names; the model config
 * (a versioned JSON) plus the builder in models/registry.ts is the "serialization".
 *
 * Layout rule: every parameter is stored in the PyTorch layout (Linear [out, in], Conv [out, in, kh, kw]),
 * so loading is a shape check plus a copy; the layers compute with `matMul(x, W, false, true)`.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';

export abstract class Module {
  private readonly ownParams = new Map<string, tf.Variable>();
  private readonly ownBuffers = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter (takes ownership of `initial`). */
  protected param(name: string, initial: tf.Tensor): tf.Variable {
    this.checkFree(name, initial);
    // No tfjs variable name: tfjs names are process-global and would collide between two models.
    const v = tf.variable(initial, true);
    initial.dispose();
    this.ownParams.set(name, v);
    return v;
  }

  /** Registers non-trainable persistent state that belongs in the state dict (e.g. spectral-norm u, v). */
  protected buffer(name: string, initial: tf.Tensor): tf.Variable {
    this.checkFree(name, initial);
    const v = tf.variable(initial, false);
    initial.dispose();
    this.ownBuffers.set(name, v);
    return v;
  }

  /** Registers a child whose names are prefixed with `name.` (use `String(i)` for list entries). */
  protected module<M extends Module>(name: string, m: M): M {
    this.checkFree(name);
    this.children.set(name, m);
    return m;
  }

  /** Throws INTERNAL on an invalid or duplicate name, freeing `owned` first so a failed build leaks nothing. */
  private checkFree(name: string, owned?: tf.Tensor): void {
    const fail = (msg: string) => {
      owned?.dispose();
      return new PipelineError('INTERNAL', msg);
    };
    if (name === '' || (name.includes('.') && !/^\d+(\.\d+)*$/.test(name))) {
      // dots belong to the hierarchy; only a child registry may introduce them
      throw fail(`invalid parameter/module name "${name}"`);
    }
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw fail(`duplicate parameter/module name "${name}"`);
    }
  }

  /** All parameters (trainable or frozen), by dotted name, in registration order. */
  parameters(prefix = ''): Map<string, tf.Variable> {
    return this.collect(prefix, false);
  }

  /** Parameters plus buffers: exactly what a checkpoint holds. */
  stateDict(prefix = ''): Map<string, tf.Variable> {
    return this.collect(prefix, true);
  }

  /** Parameters whose `trainable` flag is set: what the optimizer updates. */
  trainableParameters(prefix = ''): Map<string, tf.Variable> {
    return new Map([...this.parameters(prefix)].filter(([, v]) => v.trainable));
  }

  /** Freezes (or unfreezes) every parameter of this module and its children. */
  setTrainable(trainable: boolean): this {
    for (const v of this.parameters().values()) v.trainable = trainable;
    return this;
  }

  private collect(prefix: string, withBuffers: boolean): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    for (const [n, v] of this.ownParams) out.set(prefix + n, v);
    if (withBuffers) for (const [n, v] of this.ownBuffers) out.set(prefix + n, v);
    for (const [n, c] of this.children) for (const [k, v] of c.collect(`${prefix}${n}.`, withBuffers)) out.set(k, v);
    return out;
  }

  /** Number of scalar parameters. */
  numParameters(): number {
    let n = 0;
    for (const v of this.parameters().values()) n += v.size;
    return n;
  }

  dispose(): void {
    for (const v of this.stateDict().values()) v.dispose();
  }
}

/** A list of same-kind children named 0, 1, 2… (PyTorch nn.ModuleList). */
export class ModuleList<M extends Module> extends Module {
  readonly items: readonly M[];
  constructor(items: M[]) {
    super();
    items.forEach((m, i) => this.module(String(i), m));
    this.items = items;
  }
}

/** Throws TENSOR_SHAPE unless `t` has the given rank and, where given, the given sizes (null = any). */
export function assertShape(t: tf.Tensor, expected: readonly (number | null)[], what: string): void {
  const ok = t.rank === expected.length && expected.every((d, i) => d === null || t.shape[i] === d);
  if (!ok) {
    const want = `[${expected.map((d) => (d === null ? '*' : d)).join(', ')}]`;
    throw new PipelineError('TENSOR_SHAPE', `${what}: expected shape ${want}, got [${t.shape.join(', ')}]`);
  }
}
