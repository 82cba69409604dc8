/**
 * A 1×1 Conv2d (PyTorch nn.Conv2d(in, out, 1)) is a Linear applied to every pixel. The weight keeps the
 * Conv layout [out, in, 1, 1] (upstream `quant_conv.weight`) so checkpoints load as they are; the
 * computation is a matmul over the channel axis, on channels-last tokens or on an NCHW map.
 *
 * Default init is PyTorch's Conv2d/Linear default (kaiming-uniform a=√5 ⇒ U(±1/√in) for weight and bias).
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { initTensor, type Init } from './init';
import { linear } from './linear';
import { assertShape, Module } from './module';

export interface Conv1x1Options {
  inChannels: number;
  outChannels: number;
  bias?: boolean;
  weightInit?: Init;
  rng: Rng;
}

export class Conv1x1 extends Module {
  readonly weight: tf.Variable; // [out, in, 1, 1]
  readonly bias: tf.Variable | undefined; // [out]
  readonly inChannels: number;
  readonly outChannels: number;

  constructor(o: Conv1x1Options) {
    super();
    this.inChannels = o.inChannels;
    this.outChannels = o.outChannels;
    const bound = 1 / Math.sqrt(o.inChannels);
    const torchDefault: Init = { kind: 'uniform', low: -bound, high: bound };
    this.weight = this.param('weight', initTensor([o.outChannels, o.inChannels, 1, 1], o.weightInit ?? torchDefault, o.rng));
    this.bias = o.bias === false ? undefined : this.param('bias', initTensor([o.outChannels], torchDefault, o.rng));
  }

  /** Channels-last x: [..., in] → [..., out]. */
  forwardTokens(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => linear(x, this.weight.reshape([this.outChannels, this.inChannels]), this.bias)); // [out, in, 1, 1] -> [out, in]
  }

  /** NCHW x: [B, in, H, W] → [B, out, H, W]. */
  forward(x: tf.Tensor): tf.Tensor {
    assertShape(x, [null, this.inChannels, null, null], 'Conv1x1 input');
    return tf.tidy(
      () =>
        this.forwardTokens(x.transpose([0, 2, 3, 1])) // [B, in, H, W] -> [B, H, W, in] -> [B, H, W, out]
          .transpose([0, 3, 1, 2]), // -> [B, out, H, W]
    );
  }
}
