/**
 * The attention core's hand-written backward on tfjs-node, with attention dropout: the mask is created
 * inside the forward's tidy, so the backward must take it from the saved tensors (a captured one is
 * freed by then). Loss and gradients equal the cpu backend's. Skipped without the native backend.
 */
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { onNativeBackend } from '../../../helpers/native-backend';
import { Attention } from '../../../../models/layers/attention';
import { Rng } from '../../../../models/training/rng';
import { expectClose, expectNoTensorLeak, randomValues } from '../../../helpers/tensors';

/** Loss and gradients (x first, then parameters in order) of one attention call with attention dropout. */
function gradsWithDropout(): Float32Array[] {
  const a = new Attention({ dim: 8, numHeads: 2, rng: Rng.fromSeed(5) });
  const x0 = tf.tensor(randomValues(2 * 5 * 8, 6, 2), [2, 5, 8]);
  const x = tf.variable(x0);
  x0.dispose();
  const params = [x, ...a.parameters().values()];
  const { value, grads } = tf.variableGrads(
    () =>
      a
        .forward(x, { causal: true, dropout: { attn: 0.3, proj: 0, rng: Rng.fromSeed(11) } })
        .square()
        .sum(),
    params,
  );
  const out = [value.dataSync() as Float32Array, ...params.map((p) => grads[p.name]!.dataSync() as Float32Array)];
  tf.dispose([value, ...Object.values(grads), x]);
  a.dispose();
  return out;
}

test('attention with attention-probability dropout trains on tfjs-node as on the cpu backend', async (t) => {
  await onNativeBackend(t, async () => {
    const native = await expectNoTensorLeak(gradsWithDropout);
    await tf.setBackend('cpu');
    const cpu = gradsWithDropout();
    native.forEach((g, i) => expectClose(g, cpu[i]!, 1e-4, i === 0 ? 'loss' : `gradient ${i}`));
  });
});
