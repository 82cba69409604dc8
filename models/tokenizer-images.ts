/**
 * Token ids → uint8 images with the sampling convention of §6: decode with the tokenizer, then
 * trunc(clamp(127.5·x + 128, 0, 255)) — the +128 (not +127.5) of DiT/LlamaGen that upstream's sampling
 * scripts use, so our .npz batches match theirs byte for byte given the same decoder output.
 */
import * as tf from '@tensorflow/tfjs';
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
  const [B, , H, W] = images.shape;
  // clamped to [0, 255] first, so the int32 cast (truncation) equals torch's uint8 conversion
  const hwc = tf.tidy(() => images.mul(127.5).add(128).clipByValue(0, 255).transpose([0, 2, 3, 1]).cast('int32')); // [B, 3, H, W] -> [B, H, W, 3]
  const data = (await hwc.data()) as Int32Array;
  hwc.dispose();
  return { pixels: Uint8Array.from(data), count: B, height: H, width: W };
}

/** Raster ids [B·L] → decoded uint8 images. */
export async function decodeIdsToUint8(tokenizer: RobustokTokenizer, ids: Int32Array, count: number): Promise<Uint8Images> {
  const images = tf.tidy(() => tokenizer.decodeCodes(tf.tensor2d(ids, [count, ids.length / count], 'int32')) as tf.Tensor4D); // [B·L] -> [B, L] -> [B, 3, H, W]
  try {
    return await toUint8Hwc(images);
  } finally {
    images.dispose();
  }
}
