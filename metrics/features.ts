/**
 * Feature matrices (N rows of D activations, row-major) and the checks every metric applies to
 * them first: a NaN or ±Inf would otherwise surface much later as a meaningless score.
 */
import { PipelineError } from '../core/errors';

export interface FeatureMatrix {
  readonly data: Float32Array | Float64Array;
  readonly n: number;
  readonly d: number;
}

export function featureMatrix(data: Float32Array | Float64Array, n: number, d: number, source: string): FeatureMatrix {
  if (n * d !== data.length) throw new PipelineError('TENSOR_SHAPE', `${source}: ${data.length} values cannot form ${n}×${d} features`);
  return { data, n, d };
}

/** Throws DATA_CORRUPT naming `source` and the first non-finite entry. */
export function assertFinite(data: ArrayLike<number>, source: string, what: string, cols = 0): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      const where = cols > 0 ? `row ${Math.floor(i / cols)}, column ${i % cols}` : `index ${i}`;
      throw new PipelineError('DATA_CORRUPT', `${source}: ${what} contains ${v} at ${where}; regenerate it (non-finite values make every metric meaningless)`);
    }
  }
}
