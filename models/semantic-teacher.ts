/**
 * The frozen semantic teacher of the tokenizer's InfoNCE term (spec §2.4).
 *
 * - `loadDinov2Teacher`: timm `vit_base_patch14_dinov2` as upstream builds it (img 256, patch 16,
 *   LayerScale, LN eps 1e-6, no registers), returning the final-LayerNorm CLS token. Its input is
 *   ImageNet-normalised: x ∈ [-1, 1] → [0, 1] → (· − mean) / std. Weights are a safetensors file with
 *   either bare timm names (`blocks.0.attn.qkv.weight`) or the `semantic_model.` prefix they carry
 *   inside upstream tokenizer checkpoints (the whole checkpoint can be passed; other keys are ignored).
 *   The file must already be at the target geometry: upstream resamples the 14-px kernel and the 37×37
 *   position grid when timm builds the model, so convert from such a built model (README).
 * - `smallTeacher`: a tiny frozen random-feature network for smoke runs (no weights to download):
 *   patch projection → GELU → mean over patches → linear → LayerNorm, all from a seeded Rng.
 */
import * as tf from '@tensorflow/tfjs';
import { loadStateDict } from '../compute/checkpoint';
import { SafetensorsReader } from '../compute/safetensors';
import { PipelineError, isPipelineError } from '../core/errors';
import { gelu } from './layers/activations';
import { initTensor } from './layers/init';
import { linear } from './layers/linear';
import { assertShape, Module } from './layers/module';
import { patchify } from './layers/patch-embed';
import { placeholderRng } from './layers/placeholder-rng';
import { stopGradient } from './layers/stop-gradient';
import { VitEncoder } from './layers/vit-encoder';
import type { Rng } from './training/rng';

export interface SemanticTeacher {
  readonly width: number;
  /** x: NCHW in [-1, 1] → [B, width]; constant (no gradient flows back). */
  features(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** [-1, 1] → ImageNet-normalised: ((x + 1)/2 − m)/s = x·(0.5/s) + (0.5 − m)/s, per channel (NCHW). */
export function imagenetFromPm1(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const scale = tf.tensor4d(
      IMAGENET_STD.map((s) => 0.5 / s),
      [1, 3, 1, 1],
    );
    const shift = tf.tensor4d(
      IMAGENET_MEAN.map((m, i) => (0.5 - m) / (IMAGENET_STD[i] as number)),
      [1, 3, 1, 1],
    );
    return x.mul(scale).add(shift);
  });
}

export interface Dinov2TeacherOptions {
  /** Default 256 (upstream). */
  imageSize?: number;
  /** Default 16 (upstream). The remaining sizes default to ViT-B and exist for tiny parity tests. */
  patchSize?: number;
  width?: number;
  depth?: number;
  numHeads?: number;
}

/** timm's ViT with the DINOv2 settings; its state-dict names are timm's, unprefixed. */
export class Dinov2Teacher extends VitEncoder implements SemanticTeacher {
  readonly width: number;
  readonly imageSize: number;

  constructor(o: Dinov2TeacherOptions = {}) {
    const imageSize = o.imageSize ?? 256;
    const width = o.width ?? 768;
    super({
      imgSize: imageSize,
      patchSize: o.patchSize ?? 16,
      inChans: 3,
      embedDim: width,
      depth: o.depth ?? 12,
      numHeads: o.numHeads ?? 12,
      mlpRatio: 4,
      qkvBias: true,
      eps: 1e-6,
      layerScale: 1e-5,
      rng: placeholderRng(),
    });
    this.imageSize = imageSize;
    this.width = width;
    this.setTrainable(false);
  }

  features(x: tf.Tensor): tf.Tensor {
    assertShape(x, [null, 3, this.imageSize, this.imageSize], 'DINOv2 teacher input (NCHW)');
    return tf.tidy(() => {
      const tokens = this.forward(imagenetFromPm1(x), 'channelsFirst'); // [B, 1 + N, D]
      const cls = tokens.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]); // [B, 1, D] -> [B, D]
      return stopGradient(cls);
    });
  }
}

/** Builds the DINOv2 teacher and fills it from `path` (bare timm names or the `semantic_model.` prefix). */
export async function loadDinov2Teacher(path: string, o: Dinov2TeacherOptions = {}): Promise<Dinov2Teacher> {
  const teacher = new Dinov2Teacher(o);
  try {
    const reader = await SafetensorsReader.open(path);
    try {
      const prefixed = reader.names().some((k) => k.startsWith('semantic_model.'));
      const prefix = prefixed ? 'semantic_model.' : '';
      try {
        await loadStateDict(teacher.stateDict(), reader, { prefix, ignore: prefixed ? undefined : (k) => k.startsWith('head.') });
      } catch (e) {
        if (!isPipelineError(e, 'CHECKPOINT_MISMATCH')) throw e;
        throw new PipelineError(
          'CHECKPOINT_MISMATCH',
          `${e.message}\nThe DINOv2 teacher expects timm vit_base_patch14_dinov2 built at img_size=${teacher.imageSize}, patch_size=${o.patchSize ?? 16} ` +
            `(pos_embed [1, ${teacher.posEmbed.shape[1]}, ${teacher.width}]): convert from timm.create_model('vit_base_patch14_dinov2.lvd142m', pretrained=True, img_size=${teacher.imageSize}, patch_size=16).state_dict() (README "Loss networks"), or pass an upstream tokenizer checkpoint holding semantic_model.*`,
          { cause: e, details: e.details },
        );
      }
    } finally {
      await reader.close();
    }
    return teacher;
  } catch (e) {
    teacher.dispose();
    throw e;
  }
}

export interface SmallTeacherOptions {
  /** Default 32. */
  imageSize?: number;
  /** Default: imageSize / 4 (16 patches). */
  patchSize?: number;
}

/** A frozen random-feature teacher for smoke runs; deterministic from its Rng. */
export class SmallTeacher extends Module implements SemanticTeacher {
  readonly projWeight: tf.Variable; // [width, 3, p, p]
  readonly projBias: tf.Variable; // [width]
  readonly headWeight: tf.Variable; // [width, width]
  readonly patchSize: number;
  readonly imageSize: number;

  constructor(
    readonly width: number,
    rng: Rng,
    o: SmallTeacherOptions = {},
  ) {
    super();
    this.imageSize = o.imageSize ?? 32;
    this.patchSize = o.patchSize ?? Math.max(1, Math.floor(this.imageSize / 4));
    if (this.imageSize % this.patchSize !== 0)
      throw new PipelineError('CONFIG_INVALID', `smallTeacher: imageSize ${this.imageSize} is not a multiple of patchSize ${this.patchSize}`);
    const p = this.patchSize;
    // He-scaled so the features keep O(1) variation between images (a 0.02 init would make them nearly constant)
    this.projWeight = this.param('proj_weight', initTensor([width, 3, p, p], { kind: 'normal', std: Math.sqrt(2 / (3 * p * p)) }, rng));
    this.projBias = this.param('proj_bias', initTensor([width], { kind: 'normal', std: 0.5 }, rng));
    this.headWeight = this.param('head_weight', initTensor([width, width], { kind: 'normal', std: 1 / Math.sqrt(width) }, rng));
    this.setTrainable(false);
  }

  features(x: tf.Tensor): tf.Tensor {
    assertShape(x, [null, 3, this.imageSize, this.imageSize], 'small teacher input (NCHW)');
    const p = this.patchSize;
    return tf.tidy(() => {
      const patches = patchify(imagenetFromPm1(x), p, 'channelsFirst'); // [B, N, 3·p·p]
      const w = this.projWeight.reshape([this.width, 3 * p * p]); // [D, 3, p, p] -> [D, 3·p·p]
      const tokens = gelu(linear(patches, w, this.projBias)); // [B, N, D]
      const pooled = linear(tokens.mean(1), this.headWeight); // [B, D]
      const { mean, variance } = tf.moments(pooled, -1, true);
      return stopGradient(pooled.sub(mean).mul(tf.rsqrt(variance.add(1e-6))));
    });
  }
}

export function smallTeacher(width: number, rng: Rng, o: SmallTeacherOptions = {}): SmallTeacher {
  return new SmallTeacher(width, rng, o);
}
