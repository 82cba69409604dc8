/**
 * Token ids → uint8 images with the sampling convention of §6: decode with the tokenizer, then
 * trunc(clamp(127.5·x + 128, 0, 255)) — the +128 (not +127.5) of DiT/LlamaGen that upstream's sampling
 * scripts use, so our .npz batches match theirs byte for byte given the same decoder output.
 */
import * as tf from '@tensorflow/tfjs';
import { withDeferredExecution } from '../compute/deferred-execution';
import type { RobustokTokenizer } from './robustok-tokenizer';

export interface Uint8Images {
  /** [B, H, W, 3] C order. */
  readonly pixels: Uint8Array;
  readonly count: number;
  readonly height: number;
  readonly width: number;
}

/** NCHW float images in [-1, 1] (unclamped) → uint8 [B, H, W, 3]. */
export async function toUint8Hwc(images: tf.Tensor4D): Promise<Uint8Images> {
  const hwc = uint8Tensor(images);
  const data = (await hwc.data()) as Int32Array;
  hwc.dispose();
  return toImages(images, data);
}

function uint8Tensor(images: tf.Tensor4D): tf.Tensor {
  // clamped to [0, 255] first, so the int32 cast (truncation) equals torch's uint8 conversion
  return tf.tidy(() => images.mul(127.5).add(128).clipByValue(0, 255).transpose([0, 2, 3, 1]).cast('int32')); // [B, 3, H, W] -> [B, H, W, 3]
}

function toImages(images: tf.Tensor4D, data: Int32Array): Uint8Images {
  const [B, , H, W] = images.shape;
  return { pixels: Uint8Array.from(data), count: B, height: H, width: W };
}

/**
 * Raster ids [B·L] → decoded uint8 images. On the native backend the decode runs as one TensorFlow graph
 * call per batch shape once that shape has been seen (compute/deferred-execution.ts): the same kernels,
 * bit-identical pixels, fewer dispatches; eagerly elsewhere or with ROBUSTOK_NATIVE_EXEC=eager.
 */
export function decodeIdsToUint8(tokenizer: RobustokTokenizer, ids: Int32Array, count: number): Promise<Uint8Images> {
  return Promise.resolve(
    withDeferredExecution(() => {
      const images = tf.tidy(() => tokenizer.decodeCodes(tf.tensor2d(ids, [count, ids.length / count], 'int32')) as tf.Tensor4D); // [B·L] -> [B, L] -> [B, 3, H, W]
      try {
        const hwc = uint8Tensor(images);
        const data = hwc.dataSync() as Int32Array; // the host read: the graph runs here
        hwc.dispose();
        return toImages(images, data);
      } finally {
        images.dispose();
      }
    }),
  );
}
