/**
 * One optimisation step of the RobusTok tokenizer (dossier §2.5), shared by main training and decoder
 * post-training (§8: input = generated image, target = real image, frozen encoder backbone, β = 0):
 *
 *   G:  L = w_rec·MSE(t, x̂) + w_p·LPIPS(t, x̂) + w_adapt·w_disc(t)·(−mean D(aug(x̂)))
 *           + codebook + commit + w_sem·InfoNCE(quant_conv(teacher(x)), mean(quant))
 *   EMA update after the G step
 *   D:  w_disc(t)·(hinge(D(aug(t)), D(aug(sg(x̂)))) + w_lecam·LeCAM)
 *
 * Randomness comes from named streams of one RngStreams ('model': drop-path and perturbation,
 * 'diffaug', 'lpips', 'disc'), whose state goes into every checkpoint, so a resumed run draws exactly
 * what an uninterrupted one would have.
 *
 * The adaptive weight needs ‖∇_W L_rec‖ and ‖∇_W L_adv‖ separately, W = the decoder's to_pixel weight.
 * Both come from the main pass itself (models/training/last-layer-grad.ts): W's gradient for a loss is
 * its input features times ∂L/∂recon, so one backward through LPIPS and one through the discriminator
 * (replaying the main pass's DiffAug/LPIPS/discriminator draws) are all it costs — the same recon and
 * drop-path draws upstream's autograd sees, and no extra decoder pass.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import type { Module } from '../layers/module';
import type { RobustokTokenizer } from '../robustok-tokenizer';
import { AdamW } from './adamw';
import { diffAugment } from './diffaug';
import { Ema } from './ema';
import { adaptiveWeight, hingeDLoss, hingeGLoss, LeCam } from './gan-losses';
import { disposeGrads, namedGrads } from './grads';
import { lastLayerGradNorm } from './last-layer-grad';
import { infoNce } from './infonce';
import { Rng, type RngState, type RngStreams } from './rng';

/** What the trainer needs of a discriminator (models/conv-discriminator.ts, models/dino-disc.ts). */
export interface Discriminator extends Pick<Module, 'trainableParameters' | 'stateDict' | 'dispose'> {
  /** NCHW images in [-1, 1] → logits [B, N]. */
  forward(x: tf.Tensor, opts: { training: boolean; rng: Rng }): tf.Tensor;
}

/** A frozen perceptual distance (models/lpips.ts): per-image distances [B]. */
export interface Perceptual {
  forward(x: tf.Tensor, y: tf.Tensor, opts?: { rng?: Rng }): tf.Tensor;
}

/** A frozen semantic teacher (models/semantic-teacher.ts): global features [B, width], no gradient. */
export interface SemanticTeacher {
  readonly width: number;
  features(x: tf.Tensor): tf.Tensor;
}

export interface TokenizerLossWeights {
  reconstruction: number;
  perceptual: number;
  semantic: number;
  /** GAN weight once the discriminator is on (upstream 0.5). */
  disc: number;
  lecam: number;
  adaptive: boolean;
  diffAug: boolean;
}

export interface TokenizerTrainerOptions {
  model: RobustokTokenizer;
  disc?: Discriminator;
  teacher?: SemanticTeacher;
  lpips?: Perceptual;
  weights: TokenizerLossWeights;
  genOptimizer: { beta1: number; beta2: number; weightDecay: number };
  discOptimizer: { beta1: number; beta2: number; weightDecay: number };
  emaDecay: number;
  /** 0 = no clipping. */
  maxGradNorm: number;
  rng: RngStreams;
  /** Model parameter names kept frozen (post-training freezes the encoder backbone). */
  frozen?: ReadonlySet<string>;
}

export interface StepSettings {
  genLr: number;
  discLr: number;
  /** The GAN terms are on (step ≥ disc start). */
  discActive: boolean;
  perturbation?: { alpha: number; beta: number; delta: number };
}

/** Scalars of one step, read back once per step (also the NaN check). */
export interface StepStats {
  loss: number;
  rec: number;
  perceptual: number;
  codebook: number;
  commit: number;
  semantic: number;
  genAdv: number;
  adaptiveWeight: number;
  disc: number;
  gradNorm: number;
  replaced: number;
  /** Clean code ids of the batch ([B·L], for codebook usage). */
  codes: Int32Array;
}

export class TokenizerTrainer {
  readonly model: RobustokTokenizer;
  readonly genParams: Map<string, tf.Variable>;
  readonly genOpt: AdamW;
  readonly ema: Ema;
  readonly discOpt: AdamW | undefined;
  readonly lecam = new LeCam(0.999);
  private readonly o: TokenizerTrainerOptions;

  constructor(o: TokenizerTrainerOptions) {
    this.o = o;
    this.model = o.model;
    const all = o.model.parameters();
    for (const name of o.frozen ?? []) {
      const v = all.get(name);
      if (!v) throw new PipelineError('INTERNAL', `cannot freeze unknown tokenizer parameter ${name}`);
      v.trainable = false;
    }
    this.genParams = all;
    // Upstream: AdamW over all parameters, decay 0 for the generator (main and post-train).
    this.genOpt = new AdamW(all, { lr: 0, ...o.genOptimizer });
    // EMA over every named parameter, frozen ones included (upstream iterates named_parameters()).
    this.ema = new Ema(all, o.emaDecay);
    if (o.disc) this.discOpt = new AdamW(o.disc.trainableParameters(), { lr: 0, ...o.discOptimizer });
  }

  step(input: tf.Tensor4D, target: tf.Tensor4D, s: StepSettings): StepStats {
    const { model, o } = this;
    const w = o.weights;
    const ganOn = s.discActive && o.disc !== undefined && w.disc > 0;
    const modelRng = o.rng.stream('model');
    const augRng = o.rng.stream('diffaug');
    const lpipsRng = o.rng.stream('lpips');
    const discRng = o.rng.stream('disc');

    const teacherFeat = o.teacher && w.semantic > 0 ? tf.tidy(() => o.teacher?.features(input) as tf.Tensor) : undefined;
    const adaptive = ganOn && w.adaptive;
    // The adaptive weight's extra passes replay the streams' draws of the main pass from these states.
    const states = { aug: augRng.getState(), lpips: lpipsRng.getState(), disc: discRng.getState() };
    let wAdapt = 1;

    const kept: Record<string, tf.Tensor> = {};
    const keep = (name: string, t: tf.Tensor) => {
      kept[name] = tf.keep(t);
      return t;
    };
    const { loss, grads } = namedGrads(() => {
      const out = model.forward(input, { training: true, rng: modelRng, perturbation: s.perturbation, withDecoderFeatures: adaptive });
      if (out.replaced) keep('replaced', out.replaced);
      if (out.decoderFeatures) {
        wAdapt = this.adaptiveWeight(out.decoderFeatures, out.recon, target, states);
        out.decoderFeatures.dispose();
      }
      keep('recon', out.recon);
      keep('codes', out.codes);
      const rec = keep('rec', out.recon.sub(target).square().mean());
      let total = rec.mul(w.reconstruction).add(keep('codebook', out.codebookLoss)).add(keep('commit', out.commitLoss));
      if (o.lpips && w.perceptual > 0) {
        const p = keep('perceptual', o.lpips.forward(target, out.recon, { rng: lpipsRng }).mean());
        total = total.add(p.mul(w.perceptual));
      }
      if (teacherFeat) {
        // target: teacher CLS through the shared quant_conv; prediction: spatial mean of what the decoder saw
        const zs = model.projectSemantic(teacherFeat); // [B, width] -> [B, D]
        const zq = out.quant.mean([2, 3]); // [B, D, g, g] -> [B, D]
        total = total.add(keep('semantic', infoNce(zs, zq)).mul(w.semantic));
      }
      if (ganOn && o.disc) {
        const fake = w.diffAug ? diffAugment(out.recon, augRng) : out.recon;
        const adv = keep('genAdv', hingeGLoss(o.disc.forward(fake, { training: true, rng: discRng })));
        total = total.add(adv.mul(wAdapt * w.disc));
      }
      return total as tf.Scalar;
    }, this.trainableGenParams());

    const lossValue = loss.dataSync()[0] as number;
    if (!Number.isFinite(lossValue)) {
      loss.dispose();
      disposeGrads(grads);
      tf.dispose(teacherFeat ? [...Object.values(kept), teacherFeat] : Object.values(kept));
      throw new PipelineError('NAN_LOSS', `tokenizer loss is ${lossValue}`);
    }
    const gradNorm = this.apply(this.genOpt, grads, s.genLr);
    loss.dispose();
    this.ema.update();

    let discLoss = 0;
    const recon = kept.recon as tf.Tensor4D;
    if (ganOn && o.disc && this.discOpt) discLoss = this.discStep(target, recon, s.discLr, augRng, discRng);

    // every logged scalar in one device read (one sync per step, not one per loss term)
    const names = ['rec', 'perceptual', 'codebook', 'commit', 'semantic', 'genAdv', 'replaced'] as const;
    const present = names.filter((k) => kept[k] !== undefined);
    const stacked = present.length ? tf.tidy(() => tf.stack(present.map((k) => (kept[k] as tf.Tensor).reshape([]).cast('float32')))) : undefined; // a count < 2²⁴ is exact in float32
    const values = stacked ? stacked.dataSync() : new Float32Array(0);
    stacked?.dispose();
    const read = (k: (typeof names)[number]) => {
      const i = present.indexOf(k);
      return i < 0 ? 0 : (values[i] as number);
    };
    const stats: StepStats = {
      loss: lossValue,
      rec: read('rec'),
      perceptual: read('perceptual'),
      codebook: read('codebook'),
      commit: read('commit'),
      semantic: read('semantic'),
      genAdv: read('genAdv'),
      adaptiveWeight: ganOn ? wAdapt : 0,
      disc: discLoss,
      gradNorm,
      replaced: read('replaced'),
      codes: (kept.codes as tf.Tensor).dataSync() as Int32Array,
    };
    tf.dispose(teacherFeat ? [...Object.values(kept), teacherFeat] : Object.values(kept));
    return stats;
  }

  private trainableGenParams(): Map<string, tf.Variable> {
    return new Map([...this.genParams].filter(([, v]) => v.trainable));
  }

  /** Clips (when configured) and applies; returns the pre-clip global norm. */
  private apply(opt: AdamW, grads: Map<string, tf.Tensor>, lr: number): number {
    let norm = Number.NaN;
    if (this.o.maxGradNorm > 0) {
      // clipped on the optimizer's flat gradient vectors (same update as clipByGlobalNorm, fewer kernels)
      const n = opt.applyClippedGradients(grads, this.o.maxGradNorm, lr);
      norm = n.dataSync()[0] as number;
      n.dispose();
    } else {
      opt.applyGradients(grads, lr);
    }
    disposeGrads(grads);
    return norm;
  }

  private discStep(target: tf.Tensor4D, recon: tf.Tensor4D, lr: number, augRng: Rng, discRng: Rng): number {
    const { o } = this;
    const disc = o.disc as Discriminator;
    const w = o.weights;
    const { loss, grads } = namedGrads(() => {
      const real = disc.forward(w.diffAug ? diffAugment(target, augRng) : target, { training: true, rng: discRng });
      // recon was produced outside this tape, so no gradient reaches the tokenizer (upstream: x̂.detach())
      const fake = disc.forward(w.diffAug ? diffAugment(recon, augRng) : recon, { training: true, rng: discRng });
      let l = hingeDLoss(real, fake);
      if (w.lecam > 0) {
        // upstream folds this batch into the EMAs before evaluating the regulariser
        this.lecam.update(real, fake);
        l = l.add(this.lecam.loss(real, fake).mul(w.lecam));
      }
      return l.mul<tf.Scalar>(w.disc);
    }, disc.trainableParameters());
    const value = loss.dataSync()[0] as number;
    loss.dispose();
    if (!Number.isFinite(value)) {
      disposeGrads(grads);
      throw new PipelineError('NAN_LOSS', `discriminator loss is ${value}`);
    }
    this.apply(this.discOpt as AdamW, grads, lr);
    return value;
  }

  /**
   * ‖∇_W(w_rec·MSE + w_p·LPIPS)‖ / (‖∇_W L_adv‖ + 1e-4), clamped to [0, 1e4] (see the header), at the
   * decoder's last layer W, from the main pass's own recon and last-layer input (lastLayerGradNorm):
   * ∂L/∂recon is closed-form for the MSE and one backward through LPIPS or the discriminator (on a
   * detached recon, replaying the main pass's DiffAug/LPIPS/discriminator draws) for the rest — no
   * extra decoder pass. Runs inside the main tape; nothing here feeds the loss it differentiates.
   */
  private adaptiveWeight(features: tf.Tensor, reconOnTape: tf.Tensor, target: tf.Tensor4D, states: { aug: RngState; lpips: RngState; disc: RngState }): number {
    const { model, o } = this;
    const w = o.weights;
    const norms = tf.tidy(() => {
      const recon = tf.clone(reconOnTape) as tf.Tensor4D;
      // d(w_rec·mean((x̂ − x)²))/dx̂ = 2·w_rec·(x̂ − x)/numel
      let gRec: tf.Tensor = recon.sub(target).mul((2 * w.reconstruction) / recon.size);
      if (o.lpips && w.perceptual > 0) {
        const lpips = o.lpips;
        const gP = tf.grad((r: tf.Tensor) =>
          lpips
            .forward(target, r as tf.Tensor4D, { rng: new Rng(states.lpips) })
            .mean()
            .mul(w.perceptual),
        )(recon);
        gRec = gRec.add(gP);
      }
      const disc = o.disc as Discriminator;
      // training: false so this extra pass does not advance the discriminator's state (spectral-norm vectors)
      const gAdv = tf.grad((r: tf.Tensor) => {
        const fake = w.diffAug ? diffAugment(r, new Rng(states.aug)) : (r as tf.Tensor4D);
        return hingeGLoss(disc.forward(fake, { training: false, rng: new Rng(states.disc) }));
      })(recon);
      const p = model.config.patch_size;
      return tf.stack([lastLayerGradNorm(features, gRec, p), lastLayerGradNorm(features, gAdv, p)]);
    });
    const [recNorm, advNorm] = norms.dataSync();
    norms.dispose();
    return adaptiveWeight(recNorm as number, advNorm as number);
  }

  dispose(): void {
    this.genOpt.dispose();
    this.discOpt?.dispose();
    this.ema.dispose();
  }
}
