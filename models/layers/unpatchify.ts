/**
 * Unpatchify: per-token pixel vectors back to an image. The RobusTok decoder's `to_pixel` Linear emits
 * 3·p·p values per token laid out (py, px, c) with the channel fastest (dossier §2.3); tokens are in
 * raster order. The inverse (`patchifyPqc`) exists for tests and for reconstruction targets.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { DataFormat } from './patch-embed';

/** tokens [B, gh·gw, p·p·C] in (py, px, c) order → images [B, H, W, C] (or [B, C, H, W]). */
export function unpatchify(tokens: tf.Tensor, o: { patchSize: number; gridH: number; gridW: number; channels: number; format?: DataFormat }): tf.Tensor {
  const { patchSize: p, gridH: gh, gridW: gw, channels: C } = o;
  if (tokens.rank !== 3 || tokens.shape[1] !== gh * gw || tokens.shape[2] !== p * p * C) {
    throw new PipelineError('TENSOR_SHAPE', `unpatchify: expected [B, ${gh * gw}, ${p * p * C}], got [${tokens.shape.join(', ')}]`);
  }
  const B = tokens.shape[0];
  return tf.tidy(() => {
    const nhwc = tokens
      .reshape([B, gh, gw, p, p, C]) // [B, N, p·p·C] -> [B, gh, gw, py, px, C]
      .transpose([0, 1, 3, 2, 4, 5]) // -> [B, gh, py, gw, px, C]
      .reshape([B, gh * p, gw * p, C]); // -> [B, H, W, C]
    return o.format === 'channelsFirst' ? nhwc.transpose([0, 3, 1, 2]) : nhwc; // [B, H, W, C] -> [B, C, H, W]
  });
}

/** images [B, H, W, C] (channels-last) → tokens [B, N, p·p·C] in (py, px, c) order. */
export function patchifyPqc(images: tf.Tensor, p: number): tf.Tensor {
  const [B, H, W, C] = images.shape as [number, number, number, number];
  if (images.rank !== 4 || H % p !== 0 || W % p !== 0)
    throw new PipelineError('TENSOR_SHAPE', `patchifyPqc: bad image shape [${images.shape.join(', ')}] for patch ${p}`);
  return tf.tidy(
    () =>
      images
        .reshape([B, H / p, p, W / p, p, C]) // [B, H, W, C] -> [B, gh, py, gw, px, C]
        .transpose([0, 1, 3, 2, 4, 5]) // -> [B, gh, gw, py, px, C]
        .reshape([B, (H / p) * (W / p), p * p * C]), // -> [B, N, p·p·C]
  );
}
