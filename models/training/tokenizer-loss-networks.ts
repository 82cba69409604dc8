/**
 * Builds the networks around the tokenizer that a training config asks for: the perceptual metric
 * (LPIPS-VGG16 from a weights file), the frozen semantic teacher (DINOv2 ViT-B from weights, or a small
 * frozen random ViT for smoke runs) and the discriminator (heads over a frozen DINO ViT-S from weights,
 * or a small trainable conv net). Each missing weights file is a clear INPUT_MISSING naming the stage
 * input and how to turn the term off.
 */
import { PipelineError } from '../../core/errors';
import { ConvDiscriminator } from '../conv-discriminator';
import type { RobustokTokenizer } from '../robustok-tokenizer';
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

/** Interim: the network modules land in separate commits (lpips.ts, semantic-teacher.ts, dino-disc.ts). */
function notYet(what: string, off: string): never {
  throw new PipelineError('CONFIG_INVALID', `${what} is not available in this build yet; set ${off}`);
}

function need(inputs: Readonly<Record<string, string>>, name: string, what: string, off: string): string {
  const p = inputs[name];
  if (p === undefined) throw new PipelineError('INPUT_MISSING', `${what} needs the \`${name}\` input (a safetensors weights file; see README "Loss networks"), or set ${off}`);
  return p;
}

// eslint-disable-next-line @typescript-eslint/require-await -- interim: the weight loaders it awaits land with lpips.ts / dino-disc.ts
export async function buildLossNetworks(c: LossNetworkConfig, inputs: Readonly<Record<string, string>>, model: RobustokTokenizer, rng: RngStreams): Promise<LossNetworks> {
  const owned: { dispose(): void }[] = [];
  const out: LossNetworks = { dispose: () => owned.forEach((o) => o.dispose()) };
  try {
    if (c.losses.perceptualWeight > 0) {
      need(inputs, 'lpips', 'the perceptual loss', 'losses.perceptualWeight: 0');
      const lp: Perceptual & { dispose(): void } = notYet('LPIPS', 'losses.perceptualWeight: 0');
      owned.push(lp);
      out.lpips = lp;
    }
    if (c.losses.semanticWeight > 0 && c.semanticTeacher !== 'none') {
      const width = model.config.width;
      const t: SemanticTeacher & { dispose(): void } = notYet('the semantic teacher', 'losses.semanticWeight: 0');
      owned.push(t);
      if (t.width !== width) throw new PipelineError('CONFIG_INVALID', `the semantic teacher gives ${t.width}-d features but the tokenizer's quant_conv takes ${width}: upstream shares quant_conv, so teacher and encoder widths must match`);
      out.teacher = t;
    }
    if (c.discriminator.kind === 'dino') {
      need(inputs, 'discBackbone', 'the DINO discriminator', 'discriminator.kind: conv (smoke) or none');
      const d: Discriminator = notYet('the DINO discriminator', 'discriminator.kind: conv');
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
