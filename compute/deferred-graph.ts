/**
 * Turns a recorded run of eager TensorFlow ops (compute/deferred-execution.ts) into one TensorFlow graph,
 * loaded straight through tfjs-node's binding as a variable-free SavedModel and run as one session call.
 *
 * Each recorded op becomes a NodeDef with the same op name and the same attributes tfjs-node passed to
 * TFE_Execute; its inputs are earlier nodes, placeholders (tensors from outside the run, fed by id) or
 * baked int32 constants (shapes, axes). Unlike `GraphBuilder` (compute/native-graph.ts) nothing goes
 * through tfjs-node's `TFSavedModel` wrapper: inputs and outputs are addressed by node name, so the
 * caller deals in binding tensor ids and no tfjs tensors are made.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PipelineError } from '../core/errors';

const requireHere = createRequire(__filename);

/** An attribute as tfjs-node hands it to `binding.executeOp`. */
export interface OpAttr {
  name: string;
  type: number;
  value: unknown;
}

/** The binding's attribute-kind and dtype constants (from `tfjs_binding.d.ts`). */
export interface BindingConstants {
  TF_ATTR_STRING: number;
  TF_ATTR_INT: number;
  TF_ATTR_FLOAT: number;
  TF_ATTR_BOOL: number;
  TF_ATTR_TYPE: number;
  TF_ATTR_SHAPE: number;
  TF_INT32: number;
}

export type InputRef =
  /** Output `k` of the run's op `op` (an index into the whole segment). */
  | { kind: 'op'; op: number; k: number }
  /** The segment's external tensor number `e`, fed at run time (`pin`: what of its values the trace depends on). */
  | { kind: 'ext'; e: number; shape: readonly number[]; dtype: number; pin?: string }
  /** A small int32 tensor made from JavaScript values, baked into the graph. */
  | { kind: 'const'; values: Int32Array; shape: readonly number[] };

export interface RecordedOp {
  name: string;
  attrs: readonly OpAttr[];
  inputs: readonly InputRef[];
  outputs: readonly { shape: readonly number[]; dtype: number }[];
}

/**
 * Type attributes tfjs-node leaves for eager execution to infer from the inputs (a NodeDef must carry
 * them): attribute name → input index whose dtype it is.
 */
const INFERRED_TYPE_ATTRS: Record<string, readonly [string, number][]> = {
  ExpandDims: [
    ['T', 0],
    ['Tdim', 1],
  ],
};

function inputDtype(ops: readonly RecordedOp[], r: InputRef, b: BindingConstants): number {
  if (r.kind === 'ext') return r.dtype;
  if (r.kind === 'const') return b.TF_INT32;
  return ((ops[r.op] as RecordedOp).outputs[r.k] as RecordedOp['outputs'][number]).dtype;
}

/** What a graph run needs besides the session: feed order and fetch order. */
export interface DeferredGraphPlan {
  /** Placeholder feeds: the segment external number, or an op output before `start`. */
  feeds: ({ kind: 'ext'; e: number } | { kind: 'op'; op: number; k: number })[];
  feedNames: string;
  /** Fetched op outputs, in order. */
  fetches: { op: number; k: number }[];
  fetchNames: string;
}

interface Binding extends BindingConstants {
  loadSavedModel(exportDir: string, tags: string): number;
}

// The parts of tfjs-node's generated protobuf classes (`dist/proto/api_pb`, shipped untyped) used here.
interface PbMap<V> {
  set(key: string, value: V): void;
}
interface ShapePb {
  addDim(d: { setSize(n: number): void }): void;
}
interface TensorPb {
  setDtype(t: number): void;
  setTensorShape(s: ShapePb): void;
  setTensorContent(bytes: Uint8Array): void;
}
interface ListPb {
  setIList(v: number[]): void;
  setFList(v: number[]): void;
  setBList(v: boolean[]): void;
}
interface AttrPb {
  setS(v: Uint8Array): void;
  setI(v: number): void;
  setF(v: number): void;
  setB(v: boolean): void;
  setType(v: number): void;
  setShape(v: ShapePb): void;
  setTensor(v: TensorPb): void;
  setList(v: ListPb): void;
}
interface NodePb {
  setName(n: string): void;
  setOp(op: string): void;
  setInputList(inputs: string[]): void;
  getAttrMap(): PbMap<AttrPb>;
}
interface Pb {
  TensorShape: (new () => ShapePb) & { Dim: new () => { setSize(n: number): void } };
  Tensor: new () => TensorPb;
  AttrValue: (new () => AttrPb) & { ListValue: new () => ListPb };
  NodeDef: new () => NodePb;
  VersionDef: new () => { setProducer(n: number): void };
  GraphDef: new () => { setNodeList(nodes: NodePb[]): void; setVersions(v: unknown): void };
  MetaGraphDef: (new () => { setMetaInfoDef(i: unknown): void; setGraphDef(g: unknown): void }) & {
    MetaInfoDef: new () => { setTagsList(tags: string[]): void };
  };
  SavedModel: new () => { setSavedModelSchemaVersion(v: number): void; addMetaGraphs(m: unknown): void; serializeBinary(): Uint8Array };
}

function shapeProto(pb: Pb, shape: readonly number[]): ShapePb {
  const s = new pb.TensorShape();
  for (const d of shape) {
    const dim = new pb.TensorShape.Dim();
    dim.setSize(d);
    s.addDim(dim);
  }
  return s;
}

function attrProto(pb: Pb, b: BindingConstants, a: OpAttr): AttrPb {
  const v = new pb.AttrValue();
  const list = Array.isArray(a.value) ? (a.value as unknown[]) : null;
  switch (a.type) {
    case b.TF_ATTR_STRING:
      v.setS(new TextEncoder().encode(String(a.value)));
      break;
    case b.TF_ATTR_INT:
    case b.TF_ATTR_FLOAT:
    case b.TF_ATTR_BOOL: {
      if (list) {
        const l = new pb.AttrValue.ListValue();
        if (a.type === b.TF_ATTR_INT) l.setIList(list.map(Number));
        else if (a.type === b.TF_ATTR_FLOAT) l.setFList(list.map(Number));
        else l.setBList(list.map(Boolean));
        v.setList(l);
      } else if (a.type === b.TF_ATTR_INT) v.setI(Number(a.value));
      else if (a.type === b.TF_ATTR_FLOAT) v.setF(Number(a.value));
      else v.setB(Boolean(a.value));
      break;
    }
    case b.TF_ATTR_TYPE:
      // TF_DataType and the DataType proto enum share their numbers.
      v.setType(Number(a.value));
      break;
    case b.TF_ATTR_SHAPE:
      v.setShape(shapeProto(pb, a.value as number[]));
      break;
    default:
      throw new PipelineError('INTERNAL', `deferred graph: attribute "${a.name}" has kind ${a.type}, which the graph builder does not cover`);
  }
  return v;
}

/**
 * Builds the graph of `ops[start..]` (`ops` is the whole segment: refs to ops before `start` become
 * placeholders), fetching `fetches`, loads it and returns the SavedModel id and the run plan.
 */
export function loadDeferredGraph(
  pkg: string,
  binding: Binding,
  ops: readonly RecordedOp[],
  start: number,
  fetches: readonly { op: number; k: number }[],
): { modelId: number; plan: DeferredGraphPlan } {
  const pb = requireHere(`${pkg}/dist/proto/api_pb`) as Pb;
  const nodes: NodePb[] = [];
  const feeds: DeferredGraphPlan['feeds'] = [];
  const placeholders = new Map<string, string>();
  const node = (name: string, op: string, inputs: string[], attrs: [string, AttrPb][]) => {
    const n = new pb.NodeDef();
    n.setName(name);
    n.setOp(op);
    n.setInputList(inputs);
    const map = n.getAttrMap();
    for (const [k, v] of attrs) map.set(k, v);
    nodes.push(n);
  };
  const typeAttr = (t: number) => {
    const v = new pb.AttrValue();
    v.setType(t);
    return v;
  };
  const placeholder = (key: string, shape: readonly number[], dtype: number, feed: DeferredGraphPlan['feeds'][number]) => {
    let name = placeholders.get(key);
    if (!name) {
      name = `p${placeholders.size}`;
      placeholders.set(key, name);
      const s = new pb.AttrValue();
      s.setShape(shapeProto(pb, shape));
      node(
        name,
        'Placeholder',
        [],
        [
          ['dtype', typeAttr(dtype)],
          ['shape', s],
        ],
      );
      feeds.push(feed);
    }
    return `${name}:0`;
  };
  let consts = 0;
  for (let i = start; i < ops.length; i++) {
    const op = ops[i] as RecordedOp;
    const inputs = op.inputs.map((r) => {
      if (r.kind === 'op') {
        if (r.op >= start) return `o${r.op}:${r.k}`;
        const src = (ops[r.op] as RecordedOp).outputs[r.k] as RecordedOp['outputs'][number];
        return placeholder(`o${r.op}:${r.k}`, src.shape, src.dtype, { kind: 'op', op: r.op, k: r.k });
      }
      if (r.kind === 'ext') return placeholder(`x${r.e}`, r.shape, r.dtype, { kind: 'ext', e: r.e });
      const t = new pb.Tensor();
      t.setDtype(binding.TF_INT32);
      t.setTensorShape(shapeProto(pb, r.shape));
      t.setTensorContent(new Uint8Array(r.values.buffer, r.values.byteOffset, r.values.byteLength));
      const value = new pb.AttrValue();
      value.setTensor(t);
      const name = `c${consts++}`;
      node(
        name,
        'Const',
        [],
        [
          ['dtype', typeAttr(binding.TF_INT32)],
          ['value', value],
        ],
      );
      return `${name}:0`;
    });
    const attrs: [string, AttrPb][] = op.attrs.map((a) => [a.name, attrProto(pb, binding, a)]);
    for (const [name, input] of INFERRED_TYPE_ATTRS[op.name] ?? []) {
      if (!op.attrs.some((a) => a.name === name)) attrs.push([name, typeAttr(inputDtype(ops, op.inputs[input] as InputRef, binding))]);
    }
    node(`o${i}`, op.name, inputs, attrs);
  }
  const graph = new pb.GraphDef();
  graph.setNodeList(nodes);
  const versions = new pb.VersionDef();
  versions.setProducer(1000);
  graph.setVersions(versions);
  const meta = new pb.MetaGraphDef();
  const metaInfo = new pb.MetaGraphDef.MetaInfoDef();
  metaInfo.setTagsList(['serve']);
  meta.setMetaInfoDef(metaInfo);
  meta.setGraphDef(graph);
  const saved = new pb.SavedModel();
  saved.setSavedModelSchemaVersion(1);
  saved.addMetaGraphs(meta);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'robustok-deferred-'));
  let modelId: number;
  try {
    writeFileSync(path.join(dir, 'saved_model.pb'), saved.serializeBinary());
    modelId = binding.loadSavedModel(dir, 'serve');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const feedNames = [...placeholders.values()].map((n) => `${n}:0`).join(',');
  return {
    modelId,
    plan: { feeds, feedNames, fetches: [...fetches], fetchNames: fetches.map((f) => `o${f.op}:${f.k}`).join(',') },
  };
}
