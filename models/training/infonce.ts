/**
 * Symmetric InfoNCE (CLIP loss) between the teacher's global features and the quantised latents' mean
 * (spec §2.4): logits = s·z_s z_qᵀ, labels on the diagonal, loss = ½(CE over rows + CE over columns).
 * No feature normalisation (upstream clip_norm=False) and a constant scale. The caller applies the
 * 0.1 loss weight.
 */
import * as tf from '@tensorflow/tfjs';
import { assertShape } from '../layers/module';

/** zs, zq: [B, D] → scalar. Gradients flow to both inputs (the caller stops the teacher's side). */
export function infoNce(zs: tf.Tensor, zq: tf.Tensor, logitScale = 1): tf.Scalar {
  assertShape(zs, [null, null], 'infoNce zs');
  assertShape(zq, [zs.shape[0], zs.shape[1] as number], 'infoNce zq');
  return tf.tidy(() => {
    const logits = tf.matMul(zs, zq, false, true).mul(logitScale); // [B, D] x [B, D]ᵀ -> [B, B]
    // the diagonal of log_softmax along each axis: the row-wise CE uses axis 1, the column-wise one axis 0
    const eye = tf.eye(zs.shape[0]);
    const rows = tf.logSoftmax(logits, 1).mul(eye).sum(1).mean();
    const cols = tf.logSoftmax(logits.transpose(), 1).mul(eye).sum(1).mean();
    return rows.add(cols).mul(-0.5);
  });
}
