/**
 * Uniform [0, 1) float32 tensors that are the same on every backend: TensorFlow's
 * `StatelessRandomUniform` (Philox4x32-10) on the native backend, and a JavaScript port of that exact
 * stream on cpu/wasm (tested equal element for element).
 *
 * Why: dropout masks were drawn with tf.randomUniform, which tfjs fills in JavaScript with one alea step
 * per element (~11 ns each, a dependency chain that no rewrite makes faster). A RAR train step draws
 * millions of mask elements (attention probabilities are [B, heads, T, T] per block): ~100 ms of a 450 ms
 * smoke step on one core, outside any graph. TensorFlow's stateless op fills the same tensor in a few
 * ms on the intra-op threads, and, being a pure function of its inputs, runs inside the deferred
 * executor's graphs (compute/deferred-execution.ts) with the seed as a fed input.
 *
 * The stream, as TensorFlow 2.16's CPU kernel computes it (test/unit/models/layers/philox-uniform.test.ts
 * checks the port against the kernel element for element): the two seed words s0, s1 (an int32 seed is
 * sign-extended to 64 bits) are scrambled by one Philox block under a fixed key; that block's words
 * 0–1 become the key and words 2–3 the upper counter words, the lower counter words start at 0. Group g
 * of four outputs is the Philox block at counter + g (128-bit add), and each uint32 becomes a float in
 * [0, 1) from its low 23 bits as the mantissa of a number in [1, 2), minus 1.
 */
import * as tf from '@tensorflow/tfjs';
import { PipelineError } from '../../core/errors';
import { philoxInto } from '../training/rng';

/** The key TensorFlow scrambles a stateless seed with. */
const SCRAMBLE_KEY: readonly [number, number] = [0x3ec8f720, 0x02461e29];
/** The seed pair a mask is drawn from: one stream word and a fixed second word (int32 values, as fed). */
export function maskSeed(word: number): [number, number] {
  return [word | 0, 0x6d61736b]; // 'mask'
}

/** JavaScript port of StatelessRandomUniform(shape, seed) for float32 (seed: two int32 values). */
export function philoxUniformJs(size: number, seed: readonly [number, number]): Float32Array {
  // int32 seed values are sign-extended to uint64: high words are all ones for negative values
  const ctr = Uint32Array.of(seed[0] >>> 0, seed[0] < 0 ? 0xffffffff : 0, seed[1] >>> 0, seed[1] < 0 ? 0xffffffff : 0);
  const mix = new Uint32Array(4);
  philoxInto(ctr, SCRAMBLE_KEY[0], SCRAMBLE_KEY[1], mix);
  const k0 = mix[0] as number;
  const k1 = mix[1] as number;
  const c = Uint32Array.of(0, 0, mix[2] as number, mix[3] as number);
  const block = new Uint32Array(4);
  const out = new Float32Array(size);
  // TensorFlow's float of a uint32 x: the float32 1.m with m = x's low 23 bits, minus 1 (exact)
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < size; i += 4) {
    philoxInto(c, k0, k1, block);
    for (let j = 0; j < 4 && i + j < size; j++) bits[i + j] = ((block[j] as number) & 0x7fffff) | 0x3f800000;
    // 128-bit increment of the counter
    if ((c[0] = ((c[0] as number) + 1) >>> 0) === 0 && (c[1] = ((c[1] as number) + 1) >>> 0) === 0 && (c[2] = ((c[2] as number) + 1) >>> 0) === 0)
      c[3] = ((c[3] as number) + 1) >>> 0;
  }
  for (let i = 0; i < size; i++) out[i] = (out[i] as number) - 1;
  return out;
}

/** The parts of tfjs-node's backend used here. */
interface NodeBackend {
  binding: { TF_ATTR_TYPE: number; TF_FLOAT: number; TF_INT32: number };
  executeSingleOutput(name: string, attrs: { name: string; type: number; value: number }[], inputs: tf.Tensor[]): tf.Tensor;
}

/** Set by tests and benches: false forces the JavaScript port on the native backend too. */
let nativeAllowed = true;
export function setNativePhilox(enabled: boolean): void {
  nativeAllowed = enabled;
}

/** Uniform [0, 1) float32 of `shape` from the seed pair; equal on every backend. */
export function philoxUniform(shape: number[], seed: readonly [number, number]): tf.Tensor {
  if (!seed.every((s) => Number.isInteger(s) && s >= -(2 ** 31) && s < 2 ** 31))
    throw new PipelineError('INTERNAL', `philoxUniform: seed words must be int32, got ${seed.join(', ')}`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (nativeAllowed && tf.getBackend() === 'tensorflow') {
    const be = tf.backend() as unknown as NodeBackend;
    if (typeof be.executeSingleOutput === 'function') {
      return tf.tidy(() => {
        const attrs = [
          { name: 'dtype', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_FLOAT },
          { name: 'T', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_INT32 },
          { name: 'Tseed', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_INT32 },
        ];
        return be.executeSingleOutput('StatelessRandomUniform', attrs, [tf.tensor1d(shape, 'int32'), tf.tensor1d([seed[0], seed[1]], 'int32')]);
      });
    }
  }
  return tf.tensor(philoxUniformJs(size, seed), shape, 'float32');
}
