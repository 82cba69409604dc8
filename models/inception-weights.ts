/**
 * Weights of the FID Inception-v3: loading from safetensors (F32/F16/BF16/F64, read with
 * compute/safetensors.ts), the weights' sha256 (recorded with every metric), and a seeded random
 * initialisation for runs that explicitly accept a network of no published provenance (smoke tests).
 *
 * Expected tensor names are those of pytorch-fid's FIDInceptionV3 state dict
 * (pt_inception-2015-12-05-6726825d.pth), e.g. `Mixed_6d.branch1x1.conv.weight` [out, in, kh, kw],
 * `Mixed_6d.branch1x1.bn.{weight,bias,running_mean,running_var}`, `fc.weight` [1008, 2048].
 * Conversion: bench/fid_convert_inception.py (see its header).
 */
import { sha256File } from '../artifacts/hashing';
import { isPipelineError, PipelineError } from '../core/errors';
import { SafetensorsReader, type SafetensorsDtype, type SafetensorsEntry } from '../compute/safetensors';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export interface InceptionWeights {
  readonly tensors: ReadonlyMap<string, WeightTensor>;
  /** 'sha256:<hex>' of the weights file, or 'random-init:seed=<n>' when none was used. */
  readonly digest: string;
  readonly source: string;
}

const RECONVERT = 'convert the weights again with bench/fid_convert_inception.py';

function bad(file: string, problem: string): PipelineError {
  return new PipelineError('DATA_CORRUPT', `${file}: ${problem}; ${RECONVERT}`);
}
const FLOAT_DTYPES: ReadonlySet<SafetensorsDtype> = new Set(['F32', 'F16', 'BF16', 'F64']);

/**
 * Reads the weights through compute/safetensors.ts (one tensor at a time, F16/BF16/F64 converted to
 * float32). A file that is not valid safetensors is DATA_CORRUPT, naming the file and the remedy.
 */
export async function loadInceptionWeights(file: string): Promise<InceptionWeights> {
  let digest: string;
  try {
    digest = `sha256:${await sha256File(file)}`;
  } catch (e) {
    throw new PipelineError(
      'INPUT_MISSING',
      `${file}: cannot read the Inception weights (${(e as Error).message}); pass the converted pt_inception-2015-12-05 safetensors file`,
      { cause: e },
    );
  }
  // The reader's own messages name the file and the problem; add the remedy.
  const withRemedy = (e: unknown): unknown =>
    isPipelineError(e, 'DATA_CORRUPT') ? new PipelineError('DATA_CORRUPT', `${e.message}; ${RECONVERT}`, { cause: e }) : e;
  let reader: SafetensorsReader;
  try {
    reader = await SafetensorsReader.open(file);
  } catch (e) {
    throw withRemedy(e);
  }
  try {
    for (const [name, info] of reader.tensors) {
      if (!FLOAT_DTYPES.has(info.dtype)) throw bad(file, `tensor '${name}' has dtype ${info.dtype}, expected F32/F16/BF16/F64`);
    }
    const tensors = new Map<string, WeightTensor>();
    for (const [name, info] of reader.tensors) {
      let data: Float32Array | Int32Array;
      try {
        data = await reader.readArray(name);
      } catch (e) {
        throw withRemedy(e);
      }
      tensors.set(name, { shape: info.shape, data: data as Float32Array });
    }
    return { tensors, digest, source: file };
  } finally {
    await reader.close();
  }
}

/** Entries for writeSafetensors (compute/safetensors.ts): float32 tensors, e.g. the random-weights fixture. */
export function weightEntries(tensors: ReadonlyMap<string, WeightTensor>): SafetensorsEntry[] {
  return [...tensors].map(([name, t]) => ({ name, shape: t.shape, dtype: 'F32', data: () => t.data }));
}
