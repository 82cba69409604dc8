/**
 * An Rng for building a model whose every weight is about to be loaded from a file: its fills leave
 * the buffers at zero, so constructing a frozen ViT-B (86M weights) costs allocations instead of
 * seconds of Philox draws that would be overwritten anyway. Never use it for anything that trains.
 */
import { Rng } from '../training/rng';

class PlaceholderRng extends Rng {
  override fillUniform(out: Float32Array): Float32Array {
    return out;
  }
  override fillNormal(out: Float32Array): Float32Array {
    return out;
  }
  override fillTruncNormal(out: Float32Array): Float32Array {
    return out;
  }
}

export function placeholderRng(): Rng {
  return new PlaceholderRng(Rng.fromSeed(0).getState());
}
