/**
 * One RAR training step (dossier §5, upstream `train_one_epoch_generator` + `ARLoss`):
 *
 *   1. per sample, with probability r(step) a uniformly random order, else raster (stream 'order');
 *   2. class-label dropout: the label becomes the null class with probability p (stream 'labels');
 *   3. teacher-forced logits with dropout (stream 'dropout'); targets = the ids permuted by the order;
 *   4. mean cross-entropy over the codebook on output rows 0..L−1 (row L predicts nothing);
 *   5. gradients, global-norm clip, AdamW with RAR's no-decay rule.
 *
 * All randomness comes from the named streams of one RngStreams, so a checkpoint of (model, optimizer,
 * stream states) resumes bit-exactly.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Rar } from '../rar';
import { permute } from '../rar';
import { fusedBackend, sparseSoftmaxCrossEntropy } from '../layers/native-fused';
import { AdamW, noDecayByNameAndShape, RAR_NO_DECAY_KEYWORDS } from './adamw';
import { disposeGrads, namedGrads } from './grads';
import type { RngStreams } from './rng';

export interface RarTrainerOptions {
  beta1: number;
  beta2: number;
  weightDecay: number;
  /** 0 = no clipping. */
  maxGradNorm: number;
  /** Steps where the random-order probability leaves 1 and reaches 0. */
  anneal: { start: number; end: number };
  rng: RngStreams;
}

export interface RarStepStats {
  loss: number;
  gradNorm: number;
  /** Random-order probability used at this step. */
  randomRatio: number;
  /** Samples of the batch that used a random order. */
  randomOrders: number;
}

/** Upstream `get_rar_random_ratio`: 1 before start, linear to 0 at end, 0 after. */
export function randomOrderRatio(step: number, start: number, end: number): number {
  if (step < start) return 1;
  if (step > end) return 0;
  return end === start ? 0 : 1 - (step - start) / (end - start);
}

/**
 * Mean cross-entropy of logits [N, K] against integer labels [N] (torch CrossEntropyLoss, mean). On the
 * native backend TensorFlow's fused kernel gives the row losses and softmax − onehot in one pass, so the
 * backward is one Mul (crossEntropyPortable's log-softmax · one-hot and its autodiff: ~12 kernels over
 * [N, K]); equal to float32 rounding.
 */
export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const be = labels.dtype === 'int32' && logits.rank === 2 ? fusedBackend(logits, 'crossEntropy') : undefined;
  if (!be) return crossEntropyPortable(logits, labels);
  const N = logits.shape[0];
  // labels are closed over: customGrad differentiates w.r.t. every input, and int labels have no gradient
  const f = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const [value, backprop] = tf.tidy(() => {
      const r = sparseSoftmaxCrossEntropy(be, x, labels);
      return [r.loss.mean<tf.Scalar>(), r.backprop];
    });
    save([backprop]);
    return { value: value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved[0]!.mul(dy.div(N)) };
  }) as Parameters<typeof tf.customGrad>[0]);
  return f(logits) as tf.Scalar;
}

/** crossEntropy through portable tfjs ops (every backend; the reference for the fused path). */
export function crossEntropyPortable(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const K = logits.shape[logits.rank - 1] as number;
  return tf.tidy(() => tf.logSoftmax(logits).mul(tf.oneHot(labels, K)).sum(-1).mean<tf.Scalar>().neg());
}

export class RarTrainer {
  readonly optimizer: AdamW;

  /** Replaced wholesale on resume (RngStreams.fromState). */
  rng: RngStreams;

  constructor(
    readonly model: Rar,
    private readonly o: RarTrainerOptions,
  ) {
    this.rng = o.rng;
    this.optimizer = new AdamW(model.trainableParameters(), {
      lr: 0,
      beta1: o.beta1,
      beta2: o.beta2,
      weightDecay: o.weightDecay,
      noDecay: noDecayByNameAndShape(RAR_NO_DECAY_KEYWORDS),
    });
  }

  /** tokens [B·L] raster ids, classes [B] raw labels; `step` is the 0-based optimizer step (drives the anneal). */
  step(tokens: ArrayLike<number>, classes: ArrayLike<number>, o: { lr: number; step: number }): RarStepStats {
    const { model } = this;
    const { imageSeqLen: L, codebookSize: K, classLabelDropout } = model.config;
    const B = classes.length;
    if (tokens.length !== B * L) throw new PipelineError('TENSOR_SHAPE', `RAR step: ${tokens.length} ids for ${B} samples of ${L}`);
    const ratio = randomOrderRatio(o.step, this.o.anneal.start, this.o.anneal.end);

    const orderRng = this.rng.stream('order');
    const orders = new Int32Array(B * L);
    let randomOrders = 0;
    for (let b = 0; b < B; b++) {
      const random = orderRng.uniform() < ratio;
      if (random) randomOrders++;
      const row = random ? orderRng.permutation(L) : Int32Array.from({ length: L }, (_, j) => j);
      orders.set(row, b * L);
    }
    const labelRng = this.rng.stream('labels');
    const drop = Array.from({ length: B }, () => labelRng.uniform() < classLabelDropout);
    const condition = model.conditionIds(classes, drop);
    const dropoutRng = this.rng.stream('dropout');

    const ids = tf.tensor2d(Int32Array.from(tokens), [B, L], 'int32');
    const ord = tf.tensor2d(orders, [B, L], 'int32');
    const cond = tf.tensor1d(condition, 'int32');
    const labels = tf.tidy(() => permute(ids, ord).reshape([B * L])); // [B, L] in generation order -> [B·L]
    try {
      const { loss, grads } = namedGrads(
        () =>
          tf.tidy(() => {
            const logits = model.forward(ids, cond, { orders: ord, dropout: { rng: dropoutRng } }); // [B, L + 1, K]
            const rows = logits.slice([0, 0, 0], [B, L, K]).reshape([B * L, K]); // drop the last row: [B, L, K] -> [B·L, K]
            return crossEntropy(rows, labels);
          }),
        model.trainableParameters(),
      );
      try {
        const value = loss.dataSync()[0] as number;
        if (!Number.isFinite(value)) throw new PipelineError('NAN_LOSS', `RAR loss is ${value} at step ${o.step}`);
        let gradNorm: number;
        if (this.o.maxGradNorm > 0) {
          // clipped on the optimizer's flat gradient vectors (same update as clipByGlobalNorm, fewer kernels)
          const norm = this.optimizer.applyClippedGradients(grads, this.o.maxGradNorm, o.lr);
          gradNorm = norm.dataSync()[0] as number;
          norm.dispose();
        } else {
          gradNorm = Number.NaN;
          this.optimizer.applyGradients(grads, o.lr);
        }
        return { loss: value, gradNorm, randomRatio: ratio, randomOrders };
      } finally {
        loss.dispose();
        disposeGrads(grads);
      }
    } finally {
      tf.dispose([ids, ord, cond, labels]);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
