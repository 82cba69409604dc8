/**
 * PyTorch's F.interpolate for the two modes the DINO discriminator uses, written as separable
 * interpolation matrices (out = M_h · x · M_wᵀ over the last two axes of NCHW), so the gradient to
 * the image is two matmuls on any backend:
 *   - 'bicubic' (align_corners=False): Keys cubic convolution with A = −0.75, source coordinate
 *     (i + ½)·in/out − ½, taps at floor(src)−1 … +2 clamped to the border (PyTorch's upsample_bicubic2d);
 *   - 'area': adaptive average pooling, window [⌊i·in/out⌋, ⌈(i+1)·in/out⌉).
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';

export type ResizeMode = 'bicubic' | 'area';

const A = -0.75;
const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1; // |x| ≤ 1
const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A; // 1 < |x| < 2

/** [out, in] interpolation matrix for one axis. */
export function resizeMatrix(inSize: number, outSize: number, mode: ResizeMode): Float32Array {
  const m = new Float64Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    if (mode === 'area') {
      const s = Math.floor((i * inSize) / outSize);
      const e = Math.ceil(((i + 1) * inSize) / outSize);
      for (let j = s; j < e; j++) m[i * inSize + j] = 1 / (e - s);
    } else {
      const src = (i + 0.5) * scale - 0.5;
      const x0 = Math.floor(src);
      const t = src - x0;
      const w = [far(t + 1), near(t), near(1 - t), far(2 - t)];
      for (let k = 0; k < 4; k++) {
        const j = Math.min(inSize - 1, Math.max(0, x0 - 1 + k));
        m[i * inSize + j] = (m[i * inSize + j] as number) + (w[k] as number);
      }
    }
  }
  return Float32Array.from(m);
}

/** x: NCHW → [B, C, outH, outW]. Same size is the identity (as in PyTorch). */
export function resizeNchw(x: tf.Tensor, outH: number, outW: number, mode: ResizeMode): tf.Tensor {
  if (x.rank !== 4) throw new PipelineError('TENSOR_SHAPE', `resize: expected NCHW, got [${x.shape.join(', ')}]`);
  const [B, C, H, W] = x.shape as [number, number, number, number];
  if (H === outH && W === outW) return x.clone();
  return tf.tidy(() => {
    const mw = tf.tensor2d(resizeMatrix(W, outW, mode), [outW, W]);
    const mh = tf.tensor2d(resizeMatrix(H, outH, mode), [outH, H]);
    const cols = tf.matMul(x.reshape([B * C * H, W]), mw, false, true); // [B·C·H, W] x [outW, W]ᵀ -> [B·C·H, outW]
    const t = cols
      .reshape([B * C, H, outW])
      .transpose([0, 2, 1])
      .reshape([B * C * outW, H]); // -> [B·C·outW, H]
    const rows = tf.matMul(t, mh, false, true); // [B·C·outW, H] x [outH, H]ᵀ -> [B·C·outW, outH]
    return rows
      .reshape([B * C, outW, outH])
      .transpose([0, 2, 1])
      .reshape([B, C, outH, outW]); // -> [B, C, outH, outW]
  });
}
