/**
 * Deferred execution on the native backend: whole runs of eager ops (a training step) become one
 * TensorFlow graph call, without touching the model code.
 *
 * Why: tfjs-node runs every kernel through its own TFE_Execute (tens of µs of overhead each; a smoke
 * tokenizer step is ~1570 of them), while TensorFlow's graph executor runs the same kernels for a few µs
 * each and grappler can fold and fuse. tfjs-node reaches TensorFlow only through `backend.binding`, so we
 * wrap that object:
 *
 * - Learn: an op sequence seen for the first time (since the last flush point) runs eagerly, and each op
 *   is recorded in a trie keyed by op name, attributes and where every input came from (output k of op j
 *   of this segment; the segment's external tensor number e with its shape and dtype; or, at inputs that
 *   decide output shapes, the values of a small int32 tensor made from JavaScript, baked as a constant).
 * - Defer: an op that matches a known child in the trie is not run: it gets placeholder ("fake") tensor
 *   ids with the recorded shapes and dtypes and is queued.
 * - Flush: reading a pending tensor, feeding one to a SavedModel, an op the trie does not know (divergence),
 *   a value-shape-dependent op, or the end of a `withDeferredExecution` scope. A divergence runs the queue
 *   eagerly, op by op, and learning continues; the other flush points build (once per trie node and set of
 *   live outputs) a graph of the queued ops and run it as one session call. Fakes then point at the real
 *   output tensors (tfjs's own record of the tensor is updated in place).
 *
 * Correctness does not depend on the JavaScript being deterministic: any op the trie has not seen runs
 * eagerly, and the graph's output shapes are checked against the recorded ones. Errors TensorFlow raises
 * inside a graph are re-raised by running the queue eagerly (so the message names the failing op); they
 * surface at the flush, not at the op call.
 *
 * Opt-in and scoped: `withDeferredExecution(fn)` on the native backend with ROBUSTOK_NATIVE_EXEC unset or
 * `graph`; `ROBUSTOK_NATIVE_EXEC=eager` (or any other backend) makes it a plain call.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { backendInfo, isBackendInitialised } from './backend';
import { loadDeferredGraph, type DeferredGraphPlan, type InputRef, type OpAttr, type RecordedOp } from './deferred-graph';

interface Metadata {
  id: number;
  shape: number[];
  dtype: number;
}

/** The parts of tfjs-node's binding (`tfjs_binding.d.ts`) that are wrapped or used. */
interface Binding {
  createTensor(shape: number[], dtype: number, buffer: ArrayLike<number> | Uint8Array): number;
  deleteTensor(id: number): void;
  tensorDataSync(id: number): Float32Array | Int32Array | Uint8Array;
  executeOp(opName: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): Metadata[];
  loadSavedModel(exportDir: string, tags: string): number;
  deleteSavedModel(id: number): void;
  runSavedModel(id: number, inputIds: number[], inputNames: string, outputNames: string): Metadata[];
  getNumOfTensors(): number;
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
  TF_FLOAT: number;
  TF_INT32: number;
  TF_BOOL: number;
}

interface TensorInfoLike {
  id: number;
}

interface NodeBackend {
  binding: Binding;
  tensorMap: { get(dataId: object): TensorInfoLike | undefined };
  createOutputTensor(m: Metadata): tf.Tensor;
}

/** Ops whose output shapes depend on input values, or that draw random numbers or have effects. */
const DENY = new Set([
  'Where',
  'Unique',
  'UniqueV2',
  'UniqueWithCounts',
  'NonMaxSuppressionV2',
  'NonMaxSuppressionV3',
  'NonMaxSuppressionV4',
  'NonMaxSuppressionV5',
  'ListDiff',
  'SparseToDense',
  'Bincount',
  'DenseBincount',
  'RandomUniform',
  'RandomUniformInt',
  'RandomStandardNormal',
  'TruncatedNormal',
  'Multinomial',
  'RandomShuffle',
  'StatelessMultinomial',
  'DecodeJpeg',
  'DecodePng',
  'DecodeBmp',
  'DecodeGif',
  'EncodeJpeg',
  'EncodePng',
]);

/**
 * Input positions whose values decide output shapes (shapes, axes, sizes, begins). A small int32 tensor
 * made from JavaScript at one of these is keyed by value and baked as a constant; any other tensor there
 * makes the op a flush point. Other inputs are fed whatever their dtype.
 */
const SHAPE_INPUTS: Record<string, readonly number[]> = {
  Reshape: [1],
  Fill: [0],
  Tile: [1],
  Slice: [1, 2],
  StridedSlice: [1, 2, 3],
  StridedSliceGrad: [0, 1, 2, 3],
  Range: [0, 1, 2],
  Pad: [1],
  PadV2: [1],
  MirrorPad: [1],
  MirrorPadGrad: [1],
  BroadcastTo: [1],
  BroadcastArgs: [0, 1],
  BroadcastGradientArgs: [0, 1],
  SplitV: [1, 2],
  Split: [0],
  Transpose: [1],
  Sum: [1],
  Mean: [1],
  Max: [1],
  Min: [1],
  Prod: [1],
  All: [1],
  Any: [1],
  ArgMax: [1],
  ArgMin: [1],
  ExpandDims: [1],
  OneHot: [1],
  GatherV2: [2],
  ReverseV2: [1],
  TopKV2: [1],
  StatelessRandomUniform: [0],
  ResizeBilinear: [1],
  ResizeNearestNeighbor: [1],
  ResizeBilinearGrad: [],
  Conv2DBackpropInput: [0],
  Conv2DBackpropFilter: [1],
  Conv3DBackpropInputV2: [0],
  Conv3DBackpropFilterV2: [1],
  DepthwiseConv2dNativeBackpropInput: [0],
  DepthwiseConv2dNativeBackpropFilter: [1],
  UnsortedSegmentSum: [2],
  MatrixBandPart: [],
  Cumsum: [],
  Cumprod: [],
  ScatterNd: [2],
  LinSpace: [2],
  Empty: [0],
  TensorScatterUpdate: [],
  Squeeze: [],
};
/** ConcatV2/Pack-style ops: the last input is the axis. */
const LAST_INPUT_SHAPE = new Set(['ConcatV2']);

/** Largest int32 tensor from JavaScript that is keyed by value at a shape input. */
const MAX_CONST = 4096;
/** Fewer queued ops than this run eagerly at a flush (a graph call has its own cost). */
const MIN_GRAPH_OPS = 8;
/** Trie nodes kept per process (~1 kB each); when full the trie is dropped and learning starts over. */
const MAX_TRIE_NODES = 100_000;
/** Ops per segment; a longer one is flushed and a new segment starts. */
const MAX_SEGMENT = 50_000;
/** Loaded graphs kept per process (least recently used beyond it are unloaded). */
const MAX_GRAPHS = 64;
/** Fake ids start above every id the binding hands out (it counts from 0 in an int32). */
const FAKE_BASE = 2 ** 40;

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  readonly parent: TrieNode | null;
  /** The op this node adds to its parent's path (null at the root). */
  readonly op: RecordedOp | null;
  readonly depth: number;
  /** Loaded graphs by "queue start | live outputs"; 'failed' = this graph could not be built. */
  graphs?: Map<string, LoadedGraph | 'failed'>;
}

interface LoadedGraph {
  modelId: number;
  plan: DeferredGraphPlan;
  /** The graph cache key in `graphIndex`. */
  owner: TrieNode;
  key: string;
}

interface Pending {
  op: number;
  k: number;
  dead: boolean;
  /** tfjs's record of the tensor (its `id` is rewritten when the fake is bound). */
  info: TensorInfoLike | null;
}

export interface DeferredStats {
  /** Ops recorded into the trie (ran eagerly while learning). */
  learned: number;
  /** Ops that ran as part of a graph. */
  graphOps: number;
  /** Graph session calls. */
  graphRuns: number;
  /** Graphs built and loaded. */
  graphsBuilt: number;
  /** Queued ops run eagerly (divergence, short queue, failed graph). */
  replayedEagerly: number;
  /** Ops passed straight through (denied, untracked or outside a scope). */
  passedThrough: number;
  /** Wall time inside graph session calls. */
  graphMs: number;
  /** Times the trie filled up and was dropped. */
  forgotten: number;
}

class DeferredExecutor {
  readonly stats: DeferredStats = { learned: 0, graphOps: 0, graphRuns: 0, graphsBuilt: 0, replayedEagerly: 0, passedThrough: 0, graphMs: 0, forgotten: 0 };
  /** Nesting depth of `withDeferredExecution` scopes; 0 = every op runs eagerly. */
  enabled = 0;
  private readonly root: TrieNode = { children: new Map(), parent: null, op: null, depth: 0 };
  private trieNodes = 0;
  private readonly graphs = new Set<LoadedGraph>(); // insertion order = least recently used first
  // Segment: the ops since the last flush point.
  private node: TrieNode = this.root;
  private tracking = true;
  private readonly segOps: RecordedOp[] = [];
  /** Ids of each segment op's outputs (fakes while queued, real once run). */
  private readonly segOut: number[][] = [];
  /** Ids each queued op was called with. */
  private readonly segIn: number[][] = [];
  private readonly provenance = new Map<number, { op: number; k: number }>();
  private readonly extIndex = new Map<number, number>();
  private readonly extIds: number[] = [];
  // Queue: segment ops queueStart.. are deferred (−1: none).
  private queueStart = -1;
  /** Live fakes of the queue. */
  private readonly pending = new Map<number, Pending>();
  /** Real ids the queue reads: their deletion waits for the flush. */
  private readonly held = new Set<number>();
  private readonly heldDeletes: number[] = [];
  /** Fakes bound to real ids whose tfjs record could not be rewritten. */
  private readonly translate = new Map<number, number>();
  /**
   * Fakes bound by the latest flush. Their tfjs records now hold the real ids, but the binding call that
   * caused the flush was handed the fakes.
   */
  private readonly lastBound = new Map<number, number>();
  /** Fakes whose op never ran because an earlier queued op failed: using them raises that error. */
  private readonly poisoned = new Map<number, unknown>();
  /** int32 tensors made from JavaScript, small enough to key by value. */
  private readonly smallInts = new Map<number, { values: Int32Array; shape: number[] }>();
  /** Shape and TF dtype of tensors by id, noted when tfjs-node passes them to an op. */
  readonly meta = new Map<number, { shape: readonly number[]; dtype: number }>();
  private nextFake = FAKE_BASE;

  constructor(
    private readonly real: Binding,
    private readonly pkg: string,
  ) {}

  // ---- the wrapped binding ----------------------------------------------------------------------

  createTensor(shape: number[], dtype: number, buffer: ArrayLike<number> | Uint8Array): number {
    const id = this.real.createTensor(shape, dtype, buffer);
    if (dtype === this.real.TF_INT32 && (buffer as ArrayLike<number>).length <= MAX_CONST) {
      this.smallInts.set(id, { values: Int32Array.from(buffer as ArrayLike<number>), shape: [...shape] });
    }
    return id;
  }

  deleteTensor(id: number): void {
    this.meta.delete(id);
    const p = this.pending.get(id);
    if (p) {
      p.dead = true; // not fetched; the graph prunes what only it needed
      this.pending.delete(id);
      return;
    }
    if (id >= FAKE_BASE) {
      this.poisoned.delete(id);
      const r = this.translate.get(id);
      if (r === undefined) return;
      this.translate.delete(id);
      id = r;
    }
    if (this.held.has(id)) {
      this.heldDeletes.push(id);
      return;
    }
    this.smallInts.delete(id);
    this.real.deleteTensor(id);
  }

  tensorDataSync(id: number): Float32Array | Int32Array | Uint8Array {
    if (this.pending.has(id) || this.provenance.has(id)) this.flushPoint();
    return this.real.tensorDataSync(this.realId(id));
  }

  runSavedModel(id: number, inputIds: number[], inputNames: string, outputNames: string): Metadata[] {
    if (inputIds.some((i) => this.pending.has(i) || this.provenance.has(i))) this.flushPoint();
    return this.real.runSavedModel(
      id,
      inputIds.map((i) => this.realId(i)),
      inputNames,
      outputNames,
    );
  }

  executeOp(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): Metadata[] {
    if (this.enabled === 0 || !this.tracking) return this.passThrough(name, attrs, inputIds, numOutputs);
    const inputs = DENY.has(name) || numOutputs === 0 ? null : this.inputRefs(name, inputIds);
    if (inputs === null) {
      if (process.env.ROBUSTOK_NATIVE_EXEC_DEBUG) console.warn(`deferred execution: flush at ${name} (${this.whyNull})`);
      this.flushPoint();
      return this.passThrough(name, attrs, inputIds, numOutputs);
    }
    const key = `${name}|${JSON.stringify(attrs)}|${inputs.map(refKey).join(';')}`;
    const child = this.node.children.get(key);
    const index = this.segOps.length;
    // A known op is queued. The queue may start after ops that ran eagerly: their outputs become graph inputs.
    if (child) {
      if (this.queueStart < 0) this.queueStart = index;
      const op = child.op as RecordedOp;
      const ids = op.outputs.map((_, k) => {
        const fake = this.nextFake++;
        this.pending.set(fake, { op: index, k, dead: false, info: null });
        return fake;
      });
      for (const id of inputIds) if (!this.pending.has(id)) this.held.add(this.realId(id));
      this.segIn[index] = inputIds;
      this.push(child, op, ids);
      return op.outputs.map((o, k) => ({ id: ids[k] as number, shape: [...o.shape], dtype: o.dtype }));
    }
    if (this.queueStart >= 0) this.flushEagerly(); // a divergence: run what is queued, keep learning
    const out = this.real.executeOp(name, attrs, this.realIds(inputIds), numOutputs);
    this.stats.learned++;
    if (this.trieNodes >= MAX_TRIE_NODES) {
      // Full (JavaScript that never repeats its op sequence, e.g. random crop offsets baked as shapes):
      // forget everything and relearn from the next flush point; a repeating step is back in two runs.
      this.forget();
      this.stats.forgotten++;
      this.resetSegment(false);
      return out;
    }
    const op: RecordedOp = { name, attrs, inputs, outputs: out.map((m) => ({ shape: [...m.shape], dtype: m.dtype })) };
    const next: TrieNode = { children: new Map(), parent: this.node, op, depth: this.node.depth + 1 };
    this.node.children.set(key, next);
    this.trieNodes++;
    this.segIn[index] = inputIds;
    this.push(
      next,
      op,
      out.map((m) => m.id),
    );
    return out;
  }

  // ---- flush points -----------------------------------------------------------------------------

  /** Runs what is queued (one graph call when it is long enough) and starts a new segment. */
  flushPoint(): void {
    try {
      if (this.queueStart >= 0) {
        if (this.segOps.length - this.queueStart < MIN_GRAPH_OPS) this.flushEagerly();
        else this.flushAsGraph();
      }
    } finally {
      this.resetSegment(true);
    }
  }

  /** From the backend's createOutputTensor: tfjs's record of a fake, rewritten when the fake is bound. */
  noteOutput(id: number, info: TensorInfoLike | undefined): void {
    const p = this.pending.get(id);
    if (p && info) p.info = info;
  }

  /** Live fakes and ids the executor still translates (0 and 0 once everything is flushed and disposed). */
  counts(): { pending: number; translated: number; trieNodes: number; graphs: number } {
    return { pending: this.pending.size, translated: this.translate.size, trieNodes: this.trieNodes, graphs: this.graphs.size };
  }

  /** Unloads every graph and forgets the trie (tests; a process keeps them otherwise). */
  reset(): void {
    this.flushPoint();
    this.forget();
  }

  private forget(): void {
    for (const g of this.graphs) this.real.deleteSavedModel(g.modelId);
    this.graphs.clear();
    this.root.children.clear();
    this.trieNodes = 0;
  }

  private push(node: TrieNode, op: RecordedOp, ids: number[]): void {
    const index = this.segOps.length;
    this.segOps.push(op);
    this.segOut.push(ids);
    ids.forEach((id, k) => this.provenance.set(id, { op: index, k }));
    this.node = node;
    if (this.segOps.length >= MAX_SEGMENT) this.flushPoint();
  }

  private whyNull = '';
  private inputRefs(name: string, inputIds: number[]): InputRef[] | null {
    const shapeAt = SHAPE_INPUTS[name];
    const last = LAST_INPUT_SHAPE.has(name) ? inputIds.length - 1 : -1;
    const refs: InputRef[] = [];
    for (let i = 0; i < inputIds.length; i++) {
      const id = inputIds[i] as number;
      if (this.poisoned.has(id)) throw asError(this.poisoned.get(id));
      const pin = this.fedShapeInput(name, i, inputIds);
      if (pin !== null) {
        const m = this.meta.get(id);
        if (m) {
          refs.push(this.external(id, m, pin));
          continue;
        }
      }
      const shapeInput = i === last || (shapeAt?.includes(i) ?? false);
      if (shapeInput) {
        const small = this.smallInts.get(id);
        if (!small) return ((this.whyNull = `shape input ${i}`), null); // a shape computed by ops: a recorded trace cannot promise the output shapes
        refs.push({ kind: 'const', values: small.values, shape: small.shape });
        continue;
      }
      const prov = this.provenance.get(id);
      if (prov) {
        refs.push({ kind: 'op', op: prov.op, k: prov.k });
        continue;
      }
      const m = this.meta.get(id);
      if (!m || this.pending.has(id)) return ((this.whyNull = `input ${i} unknown`), null);
      refs.push(this.external(id, m));
    }
    return refs;
  }

  private external(id: number, m: { shape: readonly number[]; dtype: number }, pin?: string): InputRef {
    let e = this.extIndex.get(id);
    if (e === undefined) {
      e = this.extIds.length;
      this.extIndex.set(id, e);
      this.extIds.push(id);
    }
    return pin === undefined ? { kind: 'ext', e, shape: m.shape, dtype: m.dtype } : { kind: 'ext', e, shape: m.shape, dtype: m.dtype, pin };
  }

  /**
   * Shape inputs whose values matter to the output shape only through something smaller, which is then
   * keyed instead, so the tensor itself can be fed: Slice's begin when the size is explicit (tfjs-node
   * always resolves −1), a Pad's paddings through their per-axis sums. Random crops (DiffAugment's
   * translation and its gradient) then repeat as one trace. Returns the key part, or null.
   */
  private fedShapeInput(name: string, i: number, inputIds: number[]): string | null {
    if (i !== 1) return null;
    if (name === 'Slice') {
      const size = this.smallInts.get(inputIds[2] as number);
      return size && size.values.every((v) => v >= 0) && this.smallInts.has(inputIds[1] as number) ? 'begin' : null;
    }
    if (name === 'Pad' || name === 'PadV2' || name === 'MirrorPad') {
      const p = this.smallInts.get(inputIds[1] as number)?.values;
      if (!p || p.length % 2 !== 0) return null;
      const sums: number[] = [];
      for (let d = 0; d < p.length; d += 2) sums.push((p[d] as number) + (p[d + 1] as number));
      return `pad${sums.join(',')}`;
    }
    return null;
  }

  private realId(id: number): number {
    if (id < FAKE_BASE) return id;
    if (this.poisoned.has(id)) throw asError(this.poisoned.get(id));
    const r = this.translate.get(id) ?? this.lastBound.get(id);
    if (r === undefined) {
      throw new PipelineError(
        'INTERNAL',
        `deferred execution: tensor ${id} is read before the ops producing it ran (ROBUSTOK_NATIVE_EXEC=eager avoids this path)`,
      );
    }
    return r;
  }

  private realIds(ids: number[]): number[] {
    return ids.map((i) => this.realId(i));
  }

  private passThrough(name: string, attrs: OpAttr[], inputIds: number[], numOutputs: number): Metadata[] {
    this.stats.passedThrough++;
    if (this.pending.size > 0 && inputIds.some((i) => this.pending.has(i))) this.flushPoint();
    return this.real.executeOp(name, attrs, this.realIds(inputIds), numOutputs);
  }

  private resetSegment(track: boolean): void {
    if (this.queueStart >= 0) throw new PipelineError('INTERNAL', 'deferred execution: segment reset with ops still queued');
    this.node = this.root;
    this.tracking = track;
    this.segOps.length = 0;
    this.segOut.length = 0;
    this.segIn.length = 0;
    this.provenance.clear();
    this.extIndex.clear();
    this.extIds.length = 0;
  }

  /** Fake → real: rewrites tfjs's record of the tensor when known, else keeps a translation. */
  private bind(fake: number, realId: number, op: number, k: number): void {
    const p = this.pending.get(fake);
    this.pending.delete(fake);
    if (p?.info) p.info.id = realId;
    else this.translate.set(fake, realId);
    this.lastBound.set(fake, realId);
    const m = (this.segOps[op] as RecordedOp).outputs[k];
    if (m) this.meta.set(realId, m);
  }

  private endQueue(): void {
    this.queueStart = -1;
    this.held.clear();
    for (const id of this.heldDeletes.splice(0)) {
      this.smallInts.delete(id);
      this.real.deleteTensor(id);
    }
  }

  /** Runs the queue op by op with the real binding (divergence, short queue, graph that failed). */
  private flushEagerly(): void {
    const start = this.queueStart;
    const end = this.segOps.length;
    this.lastBound.clear();
    const local = new Map<number, number>(); // fake → real, within this flush
    let failed: unknown = null;
    let ran = start;
    try {
      for (; ran < end; ran++) {
        const op = this.segOps[ran] as RecordedOp;
        const inputIds = (this.segIn[ran] as number[]).map((id) => local.get(id) ?? this.realId(id));
        const out = this.real.executeOp(op.name, [...op.attrs], inputIds, op.outputs.length);
        this.stats.replayedEagerly++;
        const fakes = this.segOut[ran] as number[];
        out.forEach((m, k) => local.set(fakes[k] as number, m.id));
      }
    } catch (e) {
      failed = e;
    }
    for (let i = start; i < end; i++) {
      const fakes = this.segOut[i] as number[];
      const reals = fakes.map((fake, k) => {
        const r = local.get(fake);
        if (r === undefined) {
          if (this.pending.delete(fake)) this.poisoned.set(fake, failed);
          return fake;
        }
        if (this.pending.has(fake)) this.bind(fake, r, i, k);
        else this.heldDeletes.push(r); // dead: nothing will read it
        this.provenance.set(r, { op: i, k });
        return r;
      });
      this.segOut[i] = reals;
    }
    this.endQueue();
    if (failed !== null) {
      this.resetSegment(true);
      throw asError(failed);
    }
  }

  private flushAsGraph(): void {
    this.lastBound.clear();
    const start = this.queueStart;
    const end = this.segOps.length;
    const fetches: { op: number; k: number; fake: number }[] = [];
    for (let i = start; i < end; i++) {
      (this.segOut[i] as number[]).forEach((fake, k) => {
        if (this.pending.has(fake)) fetches.push({ op: i, k, fake });
      });
    }
    if (fetches.length === 0) {
      this.endQueue(); // nothing live: no op has effects, so nothing needs to run
      return;
    }
    const node = this.node;
    const key = `${start}|${fetches.map((f) => `${f.op}.${f.k}`).join(',')}`;
    node.graphs ??= new Map();
    let g = node.graphs.get(key);
    if (g === undefined) {
      try {
        const t0 = performance.now();
        const built = loadDeferredGraph(this.pkg, this.real, this.segOps, start, fetches);
        g = { ...built, owner: node, key };
        this.stats.graphsBuilt++;
        if (process.env.ROBUSTOK_NATIVE_EXEC_DEBUG) {
          console.warn(`deferred execution: graph of ${end - start} ops, ${fetches.length} outputs loaded in ${Math.round(performance.now() - t0)} ms`);
        }
      } catch (e) {
        // Correct either way (the queue runs eagerly); ROBUSTOK_NATIVE_EXEC_DEBUG says which op stopped the graph.
        if (process.env.ROBUSTOK_NATIVE_EXEC_DEBUG) {
          const at = /node o(\d+)/.exec(asError(e).message)?.[1];
          console.warn(`deferred execution: graph not built (${asError(e).message}); running eagerly`, at ? this.segOps[Number(at)]?.name : '');
        }
        g = 'failed';
      }
      node.graphs.set(key, g);
      if (g !== 'failed') this.remember(g);
    } else if (g !== 'failed') {
      this.graphs.delete(g); // most recently used last
      this.graphs.add(g);
    }
    if (g === 'failed') {
      this.flushEagerly();
      return;
    }
    const feeds = g.plan.feeds.map((f) => this.realId(f.kind === 'ext' ? (this.extIds[f.e] as number) : ((this.segOut[f.op] as number[])[f.k] as number)));
    let out: Metadata[];
    try {
      const t0 = performance.now();
      out = this.real.runSavedModel(g.modelId, feeds, g.plan.feedNames, g.plan.fetchNames);
      this.stats.graphMs += performance.now() - t0;
    } catch {
      this.flushEagerly(); // re-raises TensorFlow's error at the op that fails
      return;
    }
    this.stats.graphRuns++;
    this.stats.graphOps += end - start;
    let mismatch: string | null = null;
    for (const [j, m] of out.entries()) {
      const f = fetches[j] as (typeof fetches)[number];
      const want = (this.segOps[f.op] as RecordedOp).outputs[f.k] as RecordedOp['outputs'][number];
      if (m.dtype !== want.dtype || m.shape.length !== want.shape.length || m.shape.some((d, a) => d !== want.shape[a])) {
        mismatch ??= `${(this.segOps[f.op] as RecordedOp).name} gave [${m.shape.join(', ')}] where [${want.shape.join(', ')}] was recorded`;
      }
      this.bind(f.fake, m.id, f.op, f.k);
    }
    this.endQueue();
    if (mismatch) throw new PipelineError('INTERNAL', `deferred execution: ${mismatch}; set ROBUSTOK_NATIVE_EXEC=eager and report this`);
  }

  private remember(g: LoadedGraph): void {
    this.graphs.add(g);
    if (this.graphs.size <= MAX_GRAPHS) return;
    const oldest = this.graphs.values().next().value as LoadedGraph;
    this.graphs.delete(oldest);
    oldest.owner.graphs?.delete(oldest.key);
    this.real.deleteSavedModel(oldest.modelId);
  }
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new PipelineError('INTERNAL', `deferred execution: ${String(e)}`);
}

function refKey(r: InputRef): string {
  if (r.kind === 'op') return `o${r.op}.${r.k}`;
  if (r.kind === 'ext') return `x${r.e}:${r.dtype}:${r.shape.join(',')}${r.pin ? `:${r.pin}` : ''}`;
  return `c${r.shape.join(',')}:${r.values.join(',')}`;
}

// ---- installation and the public API ---------------------------------------------------------------

const INSTALLED = Symbol('robustok.deferredExecutor');
type Wrapped = NodeBackend & { [INSTALLED]?: DeferredExecutor };

export type NativeExecMode = 'graph' | 'eager';

/** ROBUSTOK_NATIVE_EXEC: `graph` (default) or `eager` (the escape hatch: every op runs as it is called). */
export function nativeExecMode(env: NodeJS.ProcessEnv = process.env): NativeExecMode {
  const v = (env.ROBUSTOK_NATIVE_EXEC ?? 'graph').trim().toLowerCase();
  if (v === 'graph' || v === '') return 'graph';
  if (v === 'eager') return 'eager';
  throw new PipelineError('CONFIG_INVALID', `ROBUSTOK_NATIVE_EXEC="${env.ROBUSTOK_NATIVE_EXEC}": expected "graph" or "eager"`);
}

function tfDtype(b: Binding, dtype: string): number | null {
  if (dtype === 'float32') return b.TF_FLOAT;
  if (dtype === 'int32') return b.TF_INT32;
  if (dtype === 'bool') return b.TF_BOOL;
  return null;
}

/** The executor of the active native backend, installed on first use; null off the native backend. */
export function deferredExecutor(): DeferredExecutor | null {
  if (tf.getBackend() !== 'tensorflow') return null;
  const backend = tf.backend() as unknown as Wrapped;
  const have = backend[INSTALLED];
  if (have) return have;
  const real = backend.binding;
  const pkg = isBackendInitialised() ? backendInfo().package : '@tensorflow/tfjs-node';
  const ex = new DeferredExecutor(real, pkg);
  // The binding's own properties are read-only: the wrapper inherits its constants and overrides methods.
  const proxy = Object.create(real, {
    createTensor: { value: (shape: number[], dtype: number, buffer: ArrayLike<number>) => ex.createTensor(shape, dtype, buffer) },
    deleteTensor: { value: (id: number) => ex.deleteTensor(id) },
    tensorDataSync: { value: (id: number) => ex.tensorDataSync(id) },
    executeOp: { value: (name: string, attrs: OpAttr[], ids: number[], n: number) => ex.executeOp(name, attrs, ids, n) },
    runSavedModel: { value: (id: number, ids: number[], ins: string, outs: string) => ex.runSavedModel(id, ids, ins, outs) },
  }) as Binding;
  backend.binding = proxy;
  // Shapes and dtypes of op inputs, which the binding's executeOp does not see.
  const b = backend as unknown as { getInputTensorIds(ts: tf.Tensor[]): number[] };
  const getIds = b.getInputTensorIds.bind(backend);
  b.getInputTensorIds = (ts) => {
    const ids = getIds(ts);
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i] as tf.Tensor;
      const dt = t instanceof tf.Tensor ? tfDtype(real, t.dtype) : null;
      if (dt !== null) ex.meta.set(ids[i] as number, { shape: t.shape, dtype: dt });
    }
    return ids;
  };
  const createOut = backend.createOutputTensor.bind(backend);
  backend.createOutputTensor = (m) => {
    const t = createOut(m);
    if (m.id >= FAKE_BASE) ex.noteOutput(m.id, backend.tensorMap.get(t.dataId));
    return t;
  };
  backend[INSTALLED] = ex;
  return ex;
}

/**
 * Runs `fn` (synchronous) with deferred execution on the native backend (see the file comment); a plain
 * call elsewhere or with ROBUSTOK_NATIVE_EXEC=eager. Everything queued is run before it returns.
 */
export function withDeferredExecution<T>(fn: () => T): T {
  const ex = nativeExecMode() === 'graph' ? deferredExecutor() : null;
  if (!ex) return fn();
  ex.flushPoint();
  ex.enabled++;
  let result: T;
  try {
    result = fn();
  } catch (e) {
    ex.enabled--;
    try {
      ex.flushPoint();
    } catch {
      // the first error is the one to report
    }
    throw e;
  }
  ex.enabled--;
  ex.flushPoint();
  if (result instanceof Promise) throw new PipelineError('INTERNAL', 'withDeferredExecution takes a synchronous function');
  return result;
}

/**
 * How `withDeferredExecution` runs steps in this process: `graph` on the native backend unless
 * ROBUSTOK_NATIVE_EXEC=eager, else `eager`. Training stages record it next to the backend.
 */
export function deferredExecutionMode(): NativeExecMode {
  return tf.getBackend() === 'tensorflow' && nativeExecMode() === 'graph' ? 'graph' : 'eager';
}

/** Runs whatever is queued now (a flush point), e.g. before timing. No-op when nothing is deferred. */
export function flushDeferred(): void {
  const backend = tf.getBackend() === 'tensorflow' ? (tf.backend() as unknown as Wrapped) : null;
  backend?.[INSTALLED]?.flushPoint();
}

/** Counters of the installed executor (null when none is installed). */
export function deferredStats(): (DeferredStats & ReturnType<DeferredExecutor['counts']>) | null {
  const backend = tf.getBackend() === 'tensorflow' ? (tf.backend() as unknown as Wrapped) : null;
  const ex = backend?.[INSTALLED];
  return ex ? { ...ex.stats, ...ex.counts() } : null;
}

/** One line for a stage log: how the process's deferred steps ran so far (null when nothing was deferred). */
export function describeDeferred(): string | null {
  const s = deferredStats();
  if (!s) return null;
  return (
    `deferred execution (process totals): ${s.graphRuns} graph calls covering ${s.graphOps} ops, ${s.graphsBuilt} graphs built ` +
    `(${s.graphs} loaded), ${s.learned} ops learned eagerly, ${s.replayedEagerly} replayed eagerly, ${s.graphMs.toFixed(0)} ms in graph calls`
  );
}

/** Unloads the executor's graphs and forgets what it learned (tests). */
export function resetDeferred(): void {
  const backend = tf.getBackend() === 'tensorflow' ? (tf.backend() as unknown as Wrapped) : null;
  backend?.[INSTALLED]?.reset();
}
