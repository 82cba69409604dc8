import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ARCH_NAMES } from '../../../models/arch-names';
import { archNames, buildArch } from '../../../models/registry';
import { expectNoTensorLeak } from '../../helpers/tensors';

before(async () => {
  await tf.setBackend('cpu');
});

test('every registered arch builds from a small config and runs without leaking', async () => {
  const configs: Record<string, [unknown, number[]]> = {
    mlp: [{ dim: 4, hidden: 8 }, [2, 3, 4]],
    'transformer-block': [{ dim: 8, numHeads: 2, qkNorm: true, causal: true }, [2, 5, 8]],
    'vit-encoder': [{ imgSize: 8, patchSize: 4, embedDim: 8, depth: 2, numHeads: 2 }, [1, 3, 8, 8]],
    'robustok-tokenizer': [
      { image_size: 8, patch_size: 4, width: 8, depth: 1, num_heads: 2, codebook_size: 8, codebook_embed_dim: 4, num_latent_tokens: 4 },
      [2, 3, 8, 8],
    ],
  };
  // rar takes integer ids and has its own tests (rar.test.ts, rar-parity.test.ts)
  assert.deepEqual(
    archNames()
      .filter((a) => a !== 'rar')
      .sort(),
    Object.keys(configs).sort(),
  );
  await expectNoTensorLeak(() => {
    for (const [arch, [config, shape]] of Object.entries(configs)) {
      const m = buildArch(arch, config, 1);
      const x = tf.zeros(shape);
      const out = m.forward([x]);
      for (const t of Object.values(out)) assert.ok(t.shape.length >= 2, arch);
      tf.dispose([x, ...Object.values(out)]);
      m.module.dispose();
    }
  });
});

test('vit-encoder has timm ViT names; tokens are [B, 1 + N, D]', () => {
  const m = buildArch('vit-encoder', { imgSize: 8, patchSize: 4, embedDim: 8, depth: 1, numHeads: 2, layerScale: 1e-5 });
  const names = [...m.module.stateDict().keys()];
  assert.deepEqual(names.slice(0, 4), ['cls_token', 'pos_embed', 'patch_embed.proj.weight', 'patch_embed.proj.bias']);
  for (const n of ['blocks.0.attn.qkv.weight', 'blocks.0.ls1.gamma', 'norm.weight']) assert.ok(names.includes(n), n);
  const x = tf.zeros([2, 3, 8, 8]);
  const { tokens } = m.forward([x]);
  assert.deepEqual(tokens!.shape, [2, 5, 8]);
  tf.dispose([x, tokens!]);
  m.module.dispose();
});

test('unknown archs and invalid configs are CONFIG_INVALID listing every issue', () => {
  assert.throws(
    () => buildArch('gpt', {}),
    (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /registered archs are/.test(e.message),
  );
  assert.throws(
    () => buildArch('mlp', { dim: -1, hiden: 3 }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'CONFIG_INVALID');
      assert.match(e.message, /dim:/);
      assert.match(e.message, /hidden:/);
      assert.match(e.message, /hiden/);
      return true;
    },
  );
  assert.throws(() => buildArch('transformer-block', { dim: 6, numHeads: 4 }), { code: 'CONFIG_INVALID' });
});

test('the CLI help lists exactly the registered archs (models/arch-names.ts, loaded without tfjs)', () => {
  assert.deepEqual([...ARCH_NAMES].sort(), archNames().sort());
});
