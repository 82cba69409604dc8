/**
 * Batched Inception feature extraction: uint8 NHWC image batches in, float32 pool_3 / sFID /
 * logit rows out. Memory stays bounded by one batch of tensors; progress and cancellation come
 * from the caller's context.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { LOGIT_CLASSES, POOL_DIM, SPATIAL_DIM, type FidInception } from './inception';

export interface ImageBatch {
  /** count × height × width × 3 bytes. */
  readonly data: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}

export interface InceptionFeatures {
  readonly n: number;
  readonly pool: Float32Array;
  readonly spatial: Float32Array;
  readonly logits: Float32Array;
}

export interface ExtractContext {
  progress?(done: number, total: number): void;
  signal?: AbortSignal;
}

export function emptyFeatures(n: number): InceptionFeatures {
  return { n, pool: new Float32Array(n * POOL_DIM), spatial: new Float32Array(n * SPATIAL_DIM), logits: new Float32Array(n * LOGIT_CLASSES) };
}

/** Runs `net` over `batches` (which must yield `total` images in order). */
export async function extractInceptionFeatures(
  net: FidInception,
  batches: AsyncIterable<ImageBatch>,
  total: number,
  ctx: ExtractContext = {},
): Promise<InceptionFeatures> {
  const out = emptyFeatures(total);
  let done = 0;
  for await (const b of batches) {
    if (ctx.signal?.aborted) throw new PipelineError('INTERNAL', 'feature extraction cancelled', { cause: ctx.signal.reason });
    if (done + b.count > total) throw new PipelineError('TENSOR_SHAPE', `feature extraction: more images than the ${total} announced`);
    const x = tf.tensor4d(b.data, [b.count, b.height, b.width, 3], 'int32');
    const r = net.forward(x);
    try {
      out.pool.set(await r.pool.data(), done * POOL_DIM);
      out.spatial.set(await r.spatial.data(), done * SPATIAL_DIM);
      out.logits.set(await r.logits.data(), done * LOGIT_CLASSES);
    } finally {
      tf.dispose([x, r.pool, r.spatial, r.logits]);
    }
    done += b.count;
    ctx.progress?.(done, total);
  }
  if (done !== total) throw new PipelineError('TENSOR_SHAPE', `feature extraction: got ${done} images, expected ${total}`);
  return out;
}
