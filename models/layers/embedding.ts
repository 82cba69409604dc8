/** nn.Embedding: a [num, dim] table (`weight`) looked up by integer ids; init trunc-normal(0.02) as in RAR. */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rng } from '../training/rng';
import { initTensor, TRUNC_NORMAL_002, type Init } from './init';
import { Module } from './module';

export class Embedding extends Module {
  readonly weight: tf.Variable; // [num, dim]
  constructor(
    readonly num: number,
    readonly dim: number,
    o: { rng: Rng; init?: Init },
  ) {
    super();
    this.weight = this.param('weight', initTensor([num, dim], o.init ?? TRUNC_NORMAL_002, o.rng));
  }

  /** ids int32 [...] → [..., dim]. Out-of-range ids are an error (tf.gather would silently return zeros on cpu). */
  forward(ids: tf.Tensor): tf.Tensor {
    if (ids.dtype !== 'int32') throw new PipelineError('TENSOR_SHAPE', `Embedding: ids must be int32, got ${ids.dtype}`);
    return tf.tidy(() => tf.gather(this.weight, ids)); // [num, dim] by [...] -> [..., dim]
  }
}
