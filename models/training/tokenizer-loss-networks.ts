/**
 * Builds the networks around the tokenizer that a training config asks for: the perceptual metric
 * (LPIPS-VGG16 from a weights file), the frozen semantic teacher (DINOv2 ViT-B from weights, or a small
 * frozen random ViT for smoke runs) and the discriminator (heads over a frozen DINO ViT-S from weights,
 * or a small trainable conv net). Each missing weights file is a clear INPUT_MISSING naming the stage
 * input and how to turn the term off.
 */
import { PipelineError } from '../../core/errors';
import { ConvDiscriminator } from '../conv-discriminator';
import { DinoDisc } from '../dino-disc';
import { Lpips } from '../lpips';
import type { RobustokTokenizer } from '../robustok-tokenizer';
import { loadDinov2Teacher, smallTeacher } from '../semantic-teacher';
import type { RngStreams } from './rng';
import type { Discriminator, Perceptual, SemanticTeacher } from './tokenizer-trainer';

export interface LossNetworkConfig {
  losses: { perceptualWeight: number; perceptualDropout: boolean; semanticWeight: number };
  semanticTeacher: 'dinov2' | 'small' | 'none';
  discriminator: { kind: 'dino' | 'conv' | 'none' };
}

export interface LossNetworks {
  lpips?: Perceptual;
  teacher?: SemanticTeacher;
  disc?: Discriminator;
  dispose(): void;
}

function need(inputs: Readonly<Record<string, string>>, name: string, what: string, off: string): string {
  const p = inputs[name];
  if (p === undefined)
    throw new PipelineError('INPUT_MISSING', `${what} needs the \`${name}\` input (a safetensors weights file; see README "Loss networks"), or set ${off}`);
  return p;
}

export async function buildLossNetworks(
  c: LossNetworkConfig,
  inputs: Readonly<Record<string, string>>,
  model: RobustokTokenizer,
  rng: RngStreams,
): Promise<LossNetworks> {
  const owned: { dispose(): void }[] = [];
  const out: LossNetworks = { dispose: () => owned.forEach((o) => o.dispose()) };
  try {
    if (c.losses.perceptualWeight > 0) {
      const lp = await Lpips.load(need(inputs, 'lpips', 'the perceptual loss', 'losses.perceptualWeight: 0'), { dropout: c.losses.perceptualDropout });
      owned.push(lp);
      out.lpips = lp;
    }
    if (c.losses.semanticWeight > 0 && c.semanticTeacher !== 'none') {
      const width = model.config.width;
      const t =
        c.semanticTeacher === 'dinov2'
          ? await loadDinov2Teacher(
              need(inputs, 'semantic', 'the semantic loss (DINOv2 teacher)', 'semanticTeacher: small (smoke) or losses.semanticWeight: 0'),
              { imageSize: model.config.image_size },
            )
          : smallTeacher(width, rng.stream('teacher-init'), { imageSize: model.config.image_size });
      owned.push(t);
      if (t.width !== width)
        throw new PipelineError(
          'CONFIG_INVALID',
          `the semantic teacher gives ${t.width}-d features but the tokenizer's quant_conv takes ${width}: upstream shares quant_conv, so teacher and encoder widths must match`,
        );
      out.teacher = t;
    }
    if (c.discriminator.kind === 'dino') {
      const d = await DinoDisc.load(
        need(inputs, 'discBackbone', 'the DINO discriminator', 'discriminator.kind: conv (smoke) or none'),
        rng.stream('disc-init'),
      );
      owned.push(d);
      out.disc = d;
    } else if (c.discriminator.kind === 'conv') {
      const d = new ConvDiscriminator({ imageSize: model.config.image_size, rng: rng.stream('disc-init') });
      owned.push(d);
      out.disc = d;
    }
    return out;
  } catch (e) {
    out.dispose();
    throw e;
  }
}
