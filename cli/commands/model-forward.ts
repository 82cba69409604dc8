/**
 * `robustok model forward`: runs a registered architecture on .npy inputs and writes its outputs as .npy.
 * The way to check a port against upstream: dump inputs/outputs from PyTorch, convert the weights to
 * safetensors (README one-liner), and compare.
 *
 *   robustok model forward --arch vit-encoder --config vit.json --weights vit.safetensors \
 *     --input images.npy --out out/        # writes out/tokens.npy
 *
 * Without --weights the model is initialised from --seed (useful for shapes and timing only).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parse as parseYaml } from 'yaml';
import { PipelineError, errorMessage } from '../../core/errors';
import { initBackend } from '../../compute/backend';
import { loadStateDictFile } from '../../compute/checkpoint';
import { encodeNpy, readNpyFile, type NpyArray } from '../../data/npy';
import { ARCH_NAMES } from '../../models/arch-names';
import { buildArch, type InputSpec } from '../../models/registry';

export interface ModelForwardOptions {
  arch: string;
  /** Path to a JSON/YAML config file, or inline JSON (starts with "{"). Default {}. */
  config?: string;
  /** safetensors weights under the upstream names. */
  weights?: string;
  /** Key prefix inside the weights file (e.g. "ema." or "model." for a training checkpoint). */
  prefix?: string;
  /** Default true; false loads what matches and prints warnings. */
  strict?: boolean;
  /** .npy inputs in the arch's input order. */
  input: string[];
  /** Output directory; one <output-name>.npy per output. */
  out: string;
  /** Init seed when no weights are given. */
  seed?: number | string;
  /** auto | tensorflow | wasm | cpu (default: $ROBUSTOK_BACKEND or auto). */
  backend?: string;
  json?: boolean;
}

export async function modelForwardCommand(o: ModelForwardOptions): Promise<number> {
  const log = (l: string) => console.error(l);
  // usage errors first: starting a tensor backend takes seconds
  if (!(ARCH_NAMES as readonly string[]).includes(o.arch))
    throw new PipelineError('CONFIG_INVALID', `unknown arch "${o.arch}": registered archs are ${ARCH_NAMES.join(', ')}`);
  const seed = o.seed === undefined ? 0 : Number(o.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new PipelineError('CONFIG_INVALID', `--seed must be a non-negative integer, got ${o.seed}`);
  const config = await readConfig(o.config);
  await initBackend({ backend: o.backend, log: o.json ? null : log });
  const model = buildArch(o.arch, config, seed);
  const tensors: tf.Tensor[] = [];
  let outputs: Record<string, tf.Tensor> = {};
  try {
    if (o.weights) {
      const report = await loadStateDictFile(model.module.stateDict(), o.weights, {
        strict: o.strict ?? true,
        prefix: o.prefix ?? '',
        ignore: model.ignoreWeight,
        onWarning: o.json ? undefined : log,
      });
      if (!o.json) log(`loaded ${report.loaded.length} tensors from ${o.weights}`);
    } else if (!o.json) {
      log(`no --weights: parameters initialised from seed ${seed}`);
    }
    const required = model.inputs.filter((s) => !s.optional).length;
    if (o.input.length < required || o.input.length > model.inputs.length) {
      const count = required === model.inputs.length ? `${required}` : `${required} to ${model.inputs.length}`;
      throw new PipelineError(
        'TENSOR_SHAPE',
        `arch ${o.arch} takes ${count} input(s) (${model.inputs.map(describeInput).join('; ')}), got ${o.input.length} --input file(s)`,
      );
    }
    for (const [i, spec] of model.inputs.slice(0, o.input.length).entries())
      tensors.push(toTensor(await readNpyFile(o.input[i] as string), spec, o.input[i] as string));
    outputs = tf.tidy(() => model.forward(tensors));
    await mkdir(o.out, { recursive: true });
    const written: { name: string; shape: number[]; file: string }[] = [];
    for (const [name, t] of Object.entries(outputs)) {
      const file = path.join(o.out, `${name}.npy`);
      const data = await t.data();
      await writeFile(file, encodeNpy(data, t.shape));
      written.push({ name, shape: t.shape, file });
    }
    if (o.json) console.log(JSON.stringify({ arch: o.arch, parameters: model.module.numParameters(), outputs: written }, null, 2));
    else for (const w of written) console.log(`${w.name}: [${w.shape.join(', ')}] -> ${w.file}`);
    return 0;
  } finally {
    tf.dispose([...tensors, ...Object.values(outputs)]);
    model.module.dispose();
  }
}

async function readConfig(spec: string | undefined): Promise<unknown> {
  if (spec === undefined) return {};
  const text = spec.trimStart().startsWith('{')
    ? spec
    : await readFile(spec, 'utf8').catch((e: unknown) => {
        throw new PipelineError('INPUT_MISSING', `--config ${spec}: cannot read (${errorMessage(e)}); pass a JSON/YAML file or inline JSON`, { cause: e });
      });
  try {
    return parseYaml(text) as unknown; // YAML is a superset of JSON
  } catch (e) {
    throw new PipelineError('CONFIG_INVALID', `--config ${spec}: not valid JSON/YAML (${errorMessage(e)})`, { cause: e });
  }
}

function describeInput(s: InputSpec): string {
  const own = `${s.name} ${s.dtype} [${s.shape.map((d) => d ?? '*').join(', ')}]${s.optional ? ' (optional)' : ''}`;
  return s.or ? `${own} or ${describeInput(s.or)}` : own;
}

/** An .npy array as the tensor the model expects: floats → float32, integer ids → int32 (checked). */
function toTensor(a: NpyArray, slot: InputSpec, file: string): tf.Tensor {
  // a slot with an alternative picks it by the file's dtype: integer arrays are ids, anything else floats
  const isInt = /^[iub]/.test(a.dtype);
  const spec = slot.or && (slot.or.dtype === 'int32') === isInt && (slot.dtype === 'int32') !== isInt ? slot.or : slot;
  const rank = spec.shape[0] === '...' ? undefined : spec.shape.length;
  if (rank !== undefined && a.shape.length !== rank) {
    throw new PipelineError('TENSOR_SHAPE', `${file}: input ${spec.name} must have shape ${describeInput(spec)}, got (${a.shape.join(', ')})`);
  }
  for (const [i, d] of spec.shape.entries()) {
    const axis = spec.shape[0] === '...' ? a.shape.length - spec.shape.length + i : i;
    if (typeof d === 'number' && a.shape[axis] !== d)
      throw new PipelineError('TENSOR_SHAPE', `${file}: input ${spec.name} must have shape ${describeInput(spec)}, got (${a.shape.join(', ')})`);
  }
  if (spec.dtype === 'int32') {
    const ints = Int32Array.from(a.data as ArrayLike<number>);
    if (ints.some((v, i) => v !== Number((a.data as ArrayLike<number>)[i])))
      throw new PipelineError('TENSOR_SHAPE', `${file}: input ${spec.name} must hold int32 ids, got ${a.dtype}`);
    return tf.tensor(ints, [...a.shape], 'int32');
  }
  return tf.tensor(a.data instanceof Float32Array ? a.data : Float32Array.from(a.data as ArrayLike<number>), [...a.shape], 'float32');
}
