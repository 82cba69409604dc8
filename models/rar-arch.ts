/**
 * The `rar` entry of the arch registry: `robustok model forward --arch rar --input class_ids.npy
 * input_ids.npy [orders.npy]` writes the teacher-forced logits of upstream `forward_fn`.
 *
 * Class ids are raw labels (0..C−1; the token offset is applied here); C itself stands for the null
 * class, so unconditional logits can be dumped too. Ids and orders are checked on the host because a
 * gather with an out-of-range index silently reads zeros on some backends.
 */
import type * as tf from '@tensorflow/tfjs';
import * as tfc from '@tensorflow/tfjs';
import { PipelineError } from '../core/errors';
import { Rar } from './rar';
import { RarConfigInput, type RarConfig } from './rar-config';
import type { ArchEntry, BuiltModel } from './registry';
import type { Rng } from './training/rng';

export const rarArch = {
  description: 'RAR generator: teacher-forced logits [B, n + 1, codebook] of (class ids, image ids, optional per-sample orders)',
  config: RarConfigInput,
  build: (c: RarConfig, rng: Rng): BuiltModel => {
    const m = new Rar(c, rng);
    return {
      module: m,
      inputs: [
        { name: 'class_ids', dtype: 'int32', shape: ['B'] },
        { name: 'input_ids', dtype: 'int32', shape: ['B', 'n'] },
        { name: 'orders', dtype: 'int32', shape: ['B', c.imageSeqLen], optional: true },
      ],
      forward: ([classIds, ids, orders]) => ({ logits: rarForward(m, classIds as tf.Tensor, ids as tf.Tensor, orders) }),
    };
  },
} satisfies ArchEntry<typeof RarConfigInput>;

function rarForward(m: Rar, classIds: tf.Tensor, ids: tf.Tensor, orders: tf.Tensor | undefined): tf.Tensor {
  const { numClasses, codebookSize, imageSeqLen } = m.config;
  const classes = Array.from(classIds.dataSync());
  const isNull = classes.map((k) => k === numClasses);
  const condition = m.conditionIds(
    classes.map((k, i) => (isNull[i] ? 0 : k)),
    isNull,
  );
  const bad = Array.from(ids.dataSync()).findIndex((v) => v < 0 || v >= codebookSize);
  if (bad >= 0) throw new PipelineError('TENSOR_SHAPE', `RAR: input id at flat index ${bad} is outside 0..${codebookSize - 1}`);
  if (orders) {
    const o = orders.dataSync();
    for (let b = 0; b < orders.shape[0]; b++) {
      const seen = new Uint8Array(imageSeqLen);
      for (let j = 0; j < imageSeqLen; j++) {
        const v = o[b * imageSeqLen + j] as number;
        if (v < 0 || v >= imageSeqLen || seen[v]) throw new PipelineError('TENSOR_SHAPE', `RAR: orders row ${b} is not a permutation of 0..${imageSeqLen - 1}`);
        seen[v] = 1;
      }
    }
  }
  const cond = tfc.tensor1d(condition, 'int32');
  try {
    return m.forward(ids, cond, { orders });
  } finally {
    cond.dispose();
  }
}
