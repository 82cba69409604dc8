/**
 * The adversarial terms of tokenizer training (spec §2.5): hinge losses for D and G, the LeCAM
 * regulariser (Tseng et al. 2021) with its EMA anchors, the adaptive generator weight
 * ‖∇L_rec‖ / (‖∇L_adv‖ + eps) taken on the decoder's last layer, and the step gate on the D weight.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';

/** ½·[mean relu(1 − D(real)) + mean relu(1 + D(fake))]. */
export function hingeDLoss(realLogits: tf.Tensor, fakeLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() =>
    tf
      .relu(tf.sub(1, realLogits))
      .mean()
      .add(tf.relu(tf.add(1, fakeLogits)).mean())
      .mul(0.5),
  );
}

/** −mean D(fake). */
export function hingeGLoss(fakeLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => fakeLogits.mean<tf.Scalar>().neg());
}

export interface LeCamState {
  realEma: number;
  fakeEma: number;
  decay: number;
}

/**
 * LeCAM: reg = mean(relu(D_real − ema_fake)²) + mean(relu(ema_real − D_fake)²), where the EMAs
 * (init 0) track the batch-mean logits. Upstream updates the EMAs with the current batch first and
 * then evaluates the regulariser; callers keep that order (update, then loss). The EMAs are host
 * numbers (upstream calls .item()), so they cost one sync per step and checkpoint as plain JSON.
 */
export class LeCam {
  private realEma = 0;
  private fakeEma = 0;

  constructor(readonly decay = 0.999) {
    if (!(decay >= 0 && decay <= 1)) throw new PipelineError('CONFIG_INVALID', `LeCam decay must be in [0, 1], got ${decay}`);
  }

  /** Folds in this step's mean logits (numbers, or logit tensors whose mean is taken). */
  update(realMean: number | tf.Tensor, fakeMean: number | tf.Tensor): void {
    const r = meanOf(realMean);
    const f = meanOf(fakeMean);
    this.realEma = this.realEma * this.decay + r * (1 - this.decay);
    this.fakeEma = this.fakeEma * this.decay + f * (1 - this.decay);
  }

  loss(real: tf.Tensor, fake: tf.Tensor): tf.Scalar {
    return tf.tidy(() =>
      tf
        .relu(real.sub(this.fakeEma))
        .square()
        .mean()
        .add(tf.relu(tf.sub(this.realEma, fake)).square().mean()),
    );
  }

  getState(): LeCamState {
    return { realEma: this.realEma, fakeEma: this.fakeEma, decay: this.decay };
  }

  setState(s: LeCamState): void {
    if (!Number.isFinite(s.realEma) || !Number.isFinite(s.fakeEma))
      throw new PipelineError('DATA_CORRUPT', `invalid LeCam state ${JSON.stringify(s)}: EMAs must be finite numbers`);
    if (s.decay !== this.decay) throw new PipelineError('CHECKPOINT_MISMATCH', `LeCam state has decay ${s.decay}, this run uses ${this.decay}`);
    this.realEma = s.realEma;
    this.fakeEma = s.fakeEma;
  }
}

function meanOf(v: number | tf.Tensor): number {
  if (typeof v === 'number') return v;
  const m = tf.tidy(() => v.mean());
  const out = m.dataSync()[0] as number;
  m.dispose();
  return out;
}

export interface AdaptiveWeightOptions {
  /** Upper clamp (default 1e4). */
  max?: number;
  /** Added to the adversarial norm (default 1e-4). */
  eps?: number;
}

/**
 * clamp(‖∇_W L_rec‖ / (‖∇_W L_adv‖ + eps), 0, max). Numbers in → number out; any tensor in → a new
 * Scalar (constant: the norms are values, not graph nodes, so nothing flows back through it).
 */
export function adaptiveWeight(recGradNorm: number, advGradNorm: number, o?: AdaptiveWeightOptions): number;
export function adaptiveWeight(recGradNorm: number | tf.Scalar, advGradNorm: number | tf.Scalar, o?: AdaptiveWeightOptions): tf.Scalar;
export function adaptiveWeight(recGradNorm: number | tf.Scalar, advGradNorm: number | tf.Scalar, o: AdaptiveWeightOptions = {}): number | tf.Scalar {
  const max = o.max ?? 1e4;
  const eps = o.eps ?? 1e-4;
  if (typeof recGradNorm === 'number' && typeof advGradNorm === 'number') return Math.min(max, Math.max(0, recGradNorm / (advGradNorm + eps)));
  return tf.tidy(() => tf.clipByValue(tf.div(recGradNorm, tf.add(advGradNorm, eps)), 0, max) as tf.Scalar);
}

/** The D-loss weight schedule: 0 before `discStart`, `weight` from it on (upstream adopt_weight). */
export function discWeight(step: number, discStart: number, weight = 0.5): number {
  return step < discStart ? 0 : weight;
}
