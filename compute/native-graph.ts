/**
 * A small TensorFlow graph, built op by op and run as one session call on the native backend.
 *
 * Why: tfjs-node executes every kernel eagerly, one TFE_Execute each, and that costs tens of µs whatever
 * the kernel's size. A loop of small kernels (RAR's one-token decode step: ~230 of them) is then bound
 * by that overhead, not by arithmetic. TensorFlow's graph executor runs the same kernels for a few µs
 * of bookkeeping each. tfjs-node offers graphs only as SavedModels (`tf.node.loadSavedModel`), so
 * `NativeGraph.load` writes the graph as a SavedModel with no variables (every weight is an input) to a
 * temporary directory, loads it into a session and removes the files.
 *
 * The protobuf messages are tfjs-node's own generated ones (`dist/proto/api_pb`, which it uses to read
 * SavedModels). Only the ops and attribute kinds callers need are covered; node names are generated.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { backendInfo, isBackendInitialised } from './backend';

const requireHere = createRequire(__filename);

// The parts of tfjs-node's generated protobuf classes used here (the package ships them untyped).
interface PbMap<V> {
  set(key: string, value: V): void;
}
interface Dim {
  setSize(n: number): void;
}
interface TensorShape {
  addDim(d: Dim): void;
  setUnknownRank(b: boolean): void;
}
interface TensorProto {
  setDtype(t: number): void;
  setTensorShape(s: TensorShape): void;
  setTensorContent(bytes: Uint8Array): void;
}
interface AttrValue {
  setShape(s: TensorShape): void;
  setTensor(t: TensorProto): void;
  setType(t: number): void;
  setB(b: boolean): void;
  setI(i: number): void;
}
interface NodeDef {
  setName(n: string): void;
  setOp(op: string): void;
  setInputList(inputs: string[]): void;
  getAttrMap(): PbMap<AttrValue>;
}
interface TensorInfo {
  setName(n: string): void;
  setDtype(t: number): void;
  setTensorShape(s: TensorShape): void;
}
interface SignatureDef {
  setMethodName(n: string): void;
  getInputsMap(): PbMap<TensorInfo>;
  getOutputsMap(): PbMap<TensorInfo>;
}
interface Protos {
  DataType: { DT_FLOAT: number; DT_INT32: number };
  TensorShape: (new () => TensorShape) & { Dim: new () => Dim };
  Tensor: new () => TensorProto;
  AttrValue: new () => AttrValue;
  NodeDef: new () => NodeDef;
  TensorInfo: new () => TensorInfo;
  SignatureDef: new () => SignatureDef;
  VersionDef: new () => { setProducer(n: number): void };
  GraphDef: new () => { setNodeList(nodes: NodeDef[]): void; setVersions(v: unknown): void };
  MetaGraphDef: (new () => { setMetaInfoDef(i: unknown): void; setGraphDef(g: unknown): void; getSignatureDefMap(): PbMap<SignatureDef> }) & {
    MetaInfoDef: new () => { setTagsList(tags: string[]): void };
  };
  SavedModel: new () => { setSavedModelSchemaVersion(v: number): void; addMetaGraphs(m: unknown): void; serializeBinary(): Uint8Array };
}

/** The native package in use (tfjs-node or tfjs-node-gpu: loading the other would register a second binding). */
function nativePackage(): string {
  return isBackendInitialised() ? backendInfo().package : '@tensorflow/tfjs-node';
}

/** The protobuf classes of the native package. */
function protos(): Protos {
  return requireHere(`${nativePackage()}/dist/proto/api_pb`) as Protos;
}

export type GraphDType = 'float32' | 'int32';
type Attr = { type: GraphDType } | { b: boolean } | { i: number };

const TAGS = ['serve'];
const SIGNATURE = 'serving_default';

/** Graph under construction: each method adds a node and returns the name of its (first) output. */
export class GraphBuilder {
  private readonly pb = protos();
  private readonly nodes: NodeDef[] = [];
  private readonly inputs = new Map<string, GraphDType>();
  private readonly outputs = new Map<string, GraphDType>();
  private count = 0;

  /** A graph input fed at every run under `name`; `rank` (dims unknown) lets graph optimisers reason about shapes. */
  input(name: string, rank: number, dtype: GraphDType = 'float32'): string {
    if (this.inputs.has(name)) throw new PipelineError('INTERNAL', `graph input "${name}" declared twice`);
    this.inputs.set(name, dtype);
    const shape = new this.pb.TensorShape();
    for (let i = 0; i < rank; i++) {
      const dim = new this.pb.TensorShape.Dim();
      dim.setSize(-1);
      shape.addDim(dim);
    }
    const value = new this.pb.AttrValue();
    value.setShape(shape);
    return this.node('Placeholder', [], { dtype: { type: dtype } }, `in_${name}`, { shape: value });
  }

  /** An int32 constant ([] for a scalar). */
  constInt(values: readonly number[], shape: readonly number[] = [values.length]): string {
    return this.constant('int32', Int32Array.from(values).buffer, shape);
  }

  /** A float32 scalar constant. */
  constFloat(value: number): string {
    return this.constant('float32', Float32Array.of(value).buffer, []);
  }

  /** Any op; `T` (float32) is added unless `attrs` sets it. Returns output 0; use `outputs` for more. */
  op(type: string, inputs: readonly string[], attrs: Record<string, Attr> = {}): string {
    return this.node(type, inputs, { T: { type: 'float32' }, ...attrs });
  }

  /** An op with exactly `attrs` (no default T): for ops typed otherwise, e.g. BatchMatMulV3 (Ta, Tb, Tout). */
  opExact(type: string, inputs: readonly string[], attrs: Record<string, Attr>): string {
    return this.node(type, inputs, attrs);
  }

  /** Outputs 0..n−1 of node output `first` (the name `op` returned). */
  static outputs(first: string, n: number): string[] {
    const base = first.replace(/:0$/, '');
    return Array.from({ length: n }, (_, i) => `${base}:${i}`);
  }

  /** Marks `tensor` as a run output named `name`. */
  output(name: string, tensor: string, dtype: GraphDType = 'float32'): void {
    if (this.outputs.has(name)) throw new PipelineError('INTERNAL', `graph output "${name}" declared twice`);
    this.outputs.set(name, dtype);
    this.node('Identity', [tensor], { T: { type: dtype } }, `out_${name}`);
  }

  /**
   * Writes the SavedModel, loads it into a TensorFlow session and deletes the files. `session` sets the
   * session's thread pools (`sessionConfig`).
   */
  async load(session: SessionThreads = {}): Promise<NativeGraph> {
    const pb = this.pb;
    const tfn = requireHere(nativePackage()) as { node: { loadSavedModel: (dir: string, tags: string[], sig: string) => Promise<SavedModelLike> } };
    const shape = () => {
      const s = new pb.TensorShape();
      s.setUnknownRank(true);
      return s;
    };
    const info = (node: string, dtype: GraphDType) => {
      const t = new pb.TensorInfo();
      t.setName(`${node}:0`);
      t.setDtype(dtypeEnum(pb, dtype));
      t.setTensorShape(shape());
      return t;
    };
    const sig = new pb.SignatureDef();
    sig.setMethodName('tensorflow/serving/predict');
    for (const [name, dt] of this.inputs) sig.getInputsMap().set(name, info(`in_${name}`, dt));
    for (const [name, dt] of this.outputs) sig.getOutputsMap().set(name, info(`out_${name}`, dt));
    const graph = new pb.GraphDef();
    graph.setNodeList(this.nodes);
    const versions = new pb.VersionDef();
    versions.setProducer(1000);
    graph.setVersions(versions);
    const meta = new pb.MetaGraphDef();
    const metaInfo = new pb.MetaGraphDef.MetaInfoDef();
    metaInfo.setTagsList(TAGS);
    meta.setMetaInfoDef(metaInfo);
    meta.setGraphDef(graph);
    meta.getSignatureDefMap().set(SIGNATURE, sig);
    const saved = new pb.SavedModel();
    saved.setSavedModelSchemaVersion(1);
    saved.addMetaGraphs(meta);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'robustok-graph-'));
    try {
      writeFileSync(path.join(dir, 'saved_model.pb'), saved.serializeBinary());
      const config = sessionConfig(session);
      if (config.length) writeFileSync(path.join(dir, SESSION_CONFIG_FILE), config);
      return new NativeGraph(await tfn.node.loadSavedModel(dir, TAGS, SIGNATURE));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private constant(dtype: GraphDType, buffer: ArrayBuffer, shape: readonly number[]): string {
    const pb = this.pb;
    const t = new pb.Tensor();
    t.setDtype(dtypeEnum(pb, dtype));
    const s = new pb.TensorShape();
    for (const d of shape) {
      const dim = new pb.TensorShape.Dim();
      dim.setSize(d);
      s.addDim(dim);
    }
    t.setTensorShape(s);
    t.setTensorContent(new Uint8Array(buffer));
    const value = new pb.AttrValue();
    value.setTensor(t);
    return this.node('Const', [], { dtype: { type: dtype } }, undefined, { value });
  }

  private node(
    type: string,
    inputs: readonly string[],
    attrs: Record<string, Attr>,
    name = `n${this.count++}_${type}`,
    raw: Record<string, AttrValue> = {},
  ): string {
    const pb = this.pb;
    const n = new pb.NodeDef();
    n.setName(name);
    n.setOp(type);
    n.setInputList([...inputs]);
    const map = n.getAttrMap();
    for (const [k, a] of Object.entries(attrs)) {
      const v = new pb.AttrValue();
      if ('type' in a) v.setType(dtypeEnum(pb, a.type));
      else if ('b' in a) v.setB(a.b);
      else v.setI(a.i);
      map.set(k, v);
    }
    for (const [k, v] of Object.entries(raw)) map.set(k, v);
    this.nodes.push(n);
    return `${name}:0`;
  }
}

/**
 * Thread pools of a loaded graph's session. TensorFlow gives a session's kernels an intra-op pool of
 * their own (rather than the process-wide one) only when TF_OVERRIDE_GLOBAL_THREADPOOL is set before it
 * starts (compute/backend.ts sets it); unset fields keep TensorFlow's defaults (TF_NUM_* variables).
 */
export interface SessionThreads {
  intraOpThreads?: number;
}

/**
 * The file the addon reads a session's ConfigProto from, next to saved_model.pb: tfjs-node's
 * loadSavedModel takes no session options, so infra/native-tensorflow.sh patches its binding to apply
 * this file's bytes with TF_SetConfig (an addon built without the patch ignores it).
 */
const SESSION_CONFIG_FILE = 'robustok_session_config.pb';

/** `session` as a serialized tensorflow.ConfigProto: intra_op_parallelism_threads is field 2 (varint). */
export function sessionConfig(session: SessionThreads): Uint8Array {
  const bytes: number[] = [];
  const n = session.intraOpThreads;
  if (n !== undefined) {
    if (!(Number.isInteger(n) && n >= 1 && n < 1 << 20)) throw new PipelineError('INTERNAL', `session intra-op threads ${n}`);
    bytes.push((2 << 3) | 0); // field 2, wire type 0 (varint)
    for (let v = n; ; v >>>= 7) {
      if (v < 0x80) {
        bytes.push(v);
        break;
      }
      bytes.push((v & 0x7f) | 0x80);
    }
  }
  return Uint8Array.from(bytes);
}

function dtypeEnum(pb: Protos, dtype: GraphDType): number {
  return dtype === 'float32' ? pb.DataType.DT_FLOAT : pb.DataType.DT_INT32;
}

interface SavedModelLike {
  predict(inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor>;
  dispose(): void;
}

/** A loaded graph: `run` feeds every input by name and returns every output by name (new tensors). */
export class NativeGraph {
  constructor(private readonly model: SavedModelLike) {}

  run(inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    return this.model.predict(inputs);
  }

  dispose(): void {
    this.model.dispose();
  }
}
