/** Cache keys and their explanations.   node --import tsx --test test/unit/plan/cache-key.test.ts */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { cacheKey, explainKeyChange } from '../../../plan/index';
import type { CacheKeyMaterial } from '../../../plan/types';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

const material: CacheKeyMaterial = {
  kind: 'command',
  version: '1',
  config: { argv: ['python', 'fit.py'], params: { lr: 0.1, sigma: [1, 2] } },
  inputDigests: { data: A, labels: B },
  seed: 7,
};

test('a known key: sha256 of the canonical JSON, computed here by hand with node:crypto', () => {
  const text =
    '{"config":{"argv":["python","fit.py"],"params":{"lr":0.1,"sigma":[1,2]}},' +
    `"inputDigests":{"data":"${A}","labels":"${B}"},"kind":"command","seed":7,"version":"1"}`;
  assert.equal(cacheKey(material), createHash('sha256').update(text, 'utf8').digest('hex'));
});

test('key order does not matter anywhere in the material', () => {
  const shuffled: CacheKeyMaterial = {
    seed: 7,
    inputDigests: { labels: B, data: A },
    config: { params: { sigma: [1, 2], lr: 0.1 }, argv: ['python', 'fit.py'] },
    version: '1',
    kind: 'command',
  };
  assert.equal(cacheKey(shuffled), cacheKey(material));
});

test('every field changes the key; list order does', () => {
  const keys = [
    material,
    { ...material, kind: 'other' },
    { ...material, version: '2' },
    { ...material, config: { ...(material.config as object), params: { lr: 0.2, sigma: [1, 2] } } },
    { ...material, config: { ...(material.config as object), params: { lr: 0.1, sigma: [2, 1] } } },
    { ...material, inputDigests: { data: A, labels: C } },
    { ...material, inputDigests: { data: A } },
    { ...material, seed: 8 },
  ].map(cacheKey);
  assert.equal(new Set(keys).size, keys.length);
});

test('explain: nothing to say for equal materials', () => {
  assert.deepEqual(explainKeyChange(material, { ...material, inputDigests: { labels: B, data: A } }), []);
});

test('explain: config paths old → new, inputs, version and seed', () => {
  const current: CacheKeyMaterial = {
    ...material,
    version: '2',
    config: { argv: ['python', 'fit.py', '--fast'], params: { lr: 0.2, sigma: [1, 3], extra: true } },
    inputDigests: { data: C, masks: B },
    seed: 8,
  };
  assert.deepEqual(explainKeyChange(material, current), [
    'version of "command": 1 → 2 (the stage\'s behaviour changed)',
    'config.argv: ["python","fit.py"] → ["python","fit.py","--fast"]',
    'config.params.extra: (absent) → true',
    'config.params.lr: 0.1 → 0.2',
    'config.params.sigma[1]: 2 → 3',
    `input "data": digest aaaaaaaa… → cccccccc… (an upstream output changed)`,
    'input "labels": removed (was bbbbbbbb…)',
    'input "masks": added (bbbbbbbb…)',
    'seed: 7 → 8',
  ]);
});

test('explain: a kind change and a config replaced by a scalar', () => {
  assert.deepEqual(explainKeyChange(material, { ...material, kind: 'train', config: null }), [
    'kind: command → train',
    'config: {"argv":["python","fit.py"],"params":{"lr":0.1,"sigma":[1,2]}} → null',
  ]);
});
