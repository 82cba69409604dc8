/**
 * Reconstruction quality of a tokenizer on its validation split: PSNR and SSIM per image, computed
 * on images clamped to [-1, 1] and mapped to [0, 1] (what a user would see after uint8 conversion,
 * minus the rounding). SSIM follows Wang et al. 2004 as skimage/torchmetrics compute it by default
 * for "gaussian" windows: 11×11 Gaussian, σ = 1.5, K1 = 0.01, K2 = 0.03, data range 1, valid
 * padding, mean over channels and positions.
 */
import * as tf from '@tensorflow/tfjs';

/** Per-image PSNR in dB of NCHW images in [-1, 1]; identical images give +Infinity (callers cap it). */
export function psnr(a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor1D {
  return tf.tidy(() => {
    const x = to01(a);
    const y = to01(b);
    const mse = x.sub(y).square().mean([1, 2, 3]); // [B]
    return mse.log().mul<tf.Tensor1D>(-10 / Math.LN10); // 10·log10(1 / mse)
  });
}

/** Per-image SSIM of NCHW images in [-1, 1] (mean over channels and valid window positions). */
export function ssim(a: tf.Tensor4D, b: tf.Tensor4D, windowSize = 11, sigma = 1.5): tf.Tensor1D {
  const [B, C, H, W] = a.shape;
  const k = Math.min(windowSize, H, W);
  return tf.tidy(() => {
    // Channels become batch entries so one depthwise-free conv2d with a single filter does all of them.
    const x = to01(a).reshape<tf.Tensor4D>([B * C, H, W, 1]); // [B, C, H, W] -> [B·C, H, W, 1]
    const y = to01(b).reshape<tf.Tensor4D>([B * C, H, W, 1]);
    const w = gaussianWindow(k, sigma);
    const blur = (t: tf.Tensor4D) => tf.conv2d(t, w, 1, 'valid');
    const mx = blur(x);
    const my = blur(y);
    const sxx = blur(x.mul<tf.Tensor4D>(x)).sub(mx.square());
    const syy = blur(y.mul<tf.Tensor4D>(y)).sub(my.square());
    const sxy = blur(x.mul<tf.Tensor4D>(y)).sub(mx.mul(my));
    const c1 = 0.01 ** 2;
    const c2 = 0.03 ** 2;
    const num = mx.mul(my).mul(2).add(c1).mul(sxy.mul(2).add(c2));
    const den = mx.square().add(my.square()).add(c1).mul(sxx.add(syy).add(c2));
    const map = num.div(den); // [B·C, H', W', 1]
    return map.reshape([B, -1]).mean<tf.Tensor1D>(1); // [B·C, H', W', 1] -> [B, C·H'·W']
  });
}

function to01(t: tf.Tensor): tf.Tensor {
  return t.clipByValue(-1, 1).add(1).div(2);
}

function gaussianWindow(k: number, sigma: number): tf.Tensor4D {
  const g = Array.from({ length: k }, (_, i) => Math.exp(-((i - (k - 1) / 2) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((p, q) => p + q, 0);
  const w = new Float32Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) w[i * k + j] = ((g[i] as number) * (g[j] as number)) / (s * s);
  return tf.tensor4d(w, [k, k, 1, 1]);
}
