/**
 * Spectral normalisation (Miyato et al. 2018; torch.nn.utils.spectral_norm), used by the DINO
 * discriminator heads: W_sn = W / σ(W), with σ estimated by power iteration on W viewed as
 * [out, rest]. State-dict names follow the PyTorch hook: `weight_orig` (the trainable W), and the
 * buffers `weight_u` [out] and `weight_v` [rest].
 *
 * In training each forward first runs `powerIterations` steps that update u and v in place (outside the
 * gradient: they are estimates, not parameters), then σ = uᵀ W v with u, v held constant, so the
 * gradient flows through both W and σ(W) as in PyTorch. In eval u and v are used as stored.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../training/rng';
import { initTensor, TRUNC_NORMAL_002, type Init } from './init';
import { linear } from './linear';
import { Module } from './module';
import { l2Normalize } from './vector-quantizer';

export interface SpectralNormOptions {
  powerIterations?: number;
  /** Added to norms in the power iteration (PyTorch default 1e-12). */
  eps?: number;
}

/** Owns W (`weight_orig`) and u, v for a weight of shape [out, ...rest]. Compose it into a layer. */
export class SpectralNormWeight {
  constructor(
    readonly weightOrig: tf.Variable,
    readonly u: tf.Variable, // [out]
    readonly v: tf.Variable, // [rest]
    readonly o: SpectralNormOptions = {},
  ) {}

  /** Random unit u, v of the right sizes (PyTorch: normal, then normalised). */
  static initVectors(shape: readonly number[], rng: Rng): { u: tf.Tensor; v: tf.Tensor } {
    const out = shape[0] as number;
    const rest = shape.slice(1).reduce((a, b) => a * b, 1);
    return tf.tidy(() => ({
      u: l2Normalize(initTensor([out], { kind: 'normal', std: 1 }, rng)),
      v: l2Normalize(initTensor([rest], { kind: 'normal', std: 1 }, rng)),
    }));
  }

  /** Runs the power iteration and stores the new u, v (no gradient). */
  updateVectors(): void {
    const n = this.o.powerIterations ?? 1;
    const eps = this.o.eps ?? 1e-12;
    const [u, v] = tf.tidy(() => {
      const w = this.matrix(); // [out, rest]
      let u = this.u as tf.Tensor;
      let v = this.v as tf.Tensor;
      for (let i = 0; i < n; i++) {
        v = l2Normalize(tf.matMul(u.expandDims(0), w).squeeze([0]), eps); // uᵀW: [1, out] x [out, rest] -> [rest]
        u = l2Normalize(tf.matMul(w, v.expandDims(1)).squeeze([1]), eps); // W v: [out, rest] x [rest, 1] -> [out]
      }
      return [u, v];
    });
    this.u.assign(u);
    this.v.assign(v);
    tf.dispose([u, v]);
  }

  /** σ = uᵀ W v (u, v constants), a differentiable function of W. */
  sigma(): tf.Scalar {
    return tf.tidy(() => tf.matMul(tf.matMul(this.u.expandDims(0), this.matrix()), this.v.expandDims(1)).reshape<tf.Scalar>([])); // [1,out]x[out,rest]x[rest,1] -> []
  }

  /** W / σ in W's own shape. Call updateVectors() first when training. */
  normalized(): tf.Tensor {
    return tf.tidy(() => this.weightOrig.div(this.sigma()));
  }

  private matrix(): tf.Tensor {
    return this.weightOrig.reshape([this.weightOrig.shape[0], -1]); // [out, ...rest] -> [out, rest]
  }
}

/** A Linear whose weight is spectrally normalised (names weight_orig, weight_u, weight_v, bias). */
export class SpectralLinear extends Module {
  readonly sn: SpectralNormWeight;
  readonly bias: tf.Variable | undefined;

  constructor(o: { inFeatures: number; outFeatures: number; bias?: boolean; weightInit?: Init; rng: Rng } & SpectralNormOptions) {
    super();
    const w = this.param('weight_orig', initTensor([o.outFeatures, o.inFeatures], o.weightInit ?? TRUNC_NORMAL_002, o.rng));
    this.bias = o.bias === false ? undefined : this.param('bias', tf.zeros([o.outFeatures]));
    const { u, v } = SpectralNormWeight.initVectors(w.shape, o.rng);
    this.sn = new SpectralNormWeight(w, this.buffer('weight_u', u), this.buffer('weight_v', v), o);
  }

  /** x: [..., in] → [..., out]. `training` updates u, v first (as module.train() does in PyTorch). */
  forward(x: tf.Tensor, o: { training?: boolean } = {}): tf.Tensor {
    if (o.training) this.sn.updateVectors();
    return tf.tidy(() => linear(x, this.sn.normalized(), this.bias));
  }
}
