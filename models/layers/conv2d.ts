/**
 * Conv2d (PyTorch nn.Conv2d, groups = 1, dilation = 1) with its weight stored in the PyTorch layout
 * [out, in, kh, kw] so checkpoints load without transposes. It computes on channels-last tensors
 * (tfjs' native conv layout): models convert NCHW input once and keep NHWC through their conv stack.
 * The filter transpose to tfjs' [kh, kw, in, out] happens per call; it is tiny next to the conv.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { initTensor, type Init } from './init';
import { assertShape, Module } from './module';

export interface Conv2dOptions {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Zero padding on every side (PyTorch `padding=int`). Default 0. */
  padding?: number;
  bias?: boolean;
  /** Default normal(0, 0.02) (the PatchGAN / taming init). */
  weightInit?: Init;
  rng: Rng;
}

export class Conv2d extends Module {
  readonly weight: tf.Variable; // [out, in, kh, kw]
  readonly bias: tf.Variable | undefined; // [out]
  readonly stride: number;
  readonly padding: number;
  readonly inChannels: number;

  constructor(o: Conv2dOptions) {
    super();
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 0;
    this.inChannels = o.inChannels;
    this.weight = this.param(
      'weight',
      initTensor([o.outChannels, o.inChannels, o.kernelSize, o.kernelSize], o.weightInit ?? { kind: 'normal', std: 0.02 }, o.rng),
    );
    this.bias = o.bias === false ? undefined : this.param('bias', tf.zeros([o.outChannels]));
  }

  /** x: [B, H, W, in] → [B, H', W', out]. */
  forward(x: tf.Tensor): tf.Tensor {
    assertShape(x, [null, null, null, this.inChannels], 'Conv2d input (NHWC)');
    return conv2dNhwc(x, this.weight, this.bias, this.stride, this.padding);
  }
}

/** The functional form, also used with a computed weight (spectral norm). w: [out, in, kh, kw]. */
export function conv2dNhwc(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor | undefined, stride: number, padding: number): tf.Tensor {
  if (w.rank !== 4) throw new PipelineError('TENSOR_SHAPE', `conv2d: weight must be [out, in, kh, kw], got [${w.shape.join(', ')}]`);
  return tf.tidy(() => {
    const f = w.transpose<tf.Tensor4D>([2, 3, 1, 0]); // [out, in, kh, kw] -> [kh, kw, in, out]
    const k = w.shape[2] as number;
    let y: tf.Tensor;
    if (stride === 1 && k % 2 === 1 && padding === (k - 1) / 2) {
      y = tf.conv2d(x as tf.Tensor4D, f, 1, 'same'); // the same zero padding, without a padded copy
    } else {
      // explicit zero padding: the native TF backend accepts only 'valid'/'same' padding modes
      const xp =
        padding === 0
          ? x
          : tf.pad(x, [
              [0, 0],
              [padding, padding],
              [padding, padding],
              [0, 0],
            ]); // [B, H, W, C] -> [B, H + 2p, W + 2p, C]
      y = tf.conv2d(xp as tf.Tensor4D, f, stride, 'valid');
    }
    if (b) y = y.add(b);
    return y;
  });
}
