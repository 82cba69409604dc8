import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../../core/canonical-json';
import { digestJson, isSha256Hex, sha256Hex } from '../../../core/digest';

test('canonical JSON sorts keys at every depth and drops undefined', () => {
  const a = { b: 1, a: { d: [3, { z: 1, y: 2 }], c: 'x' }, u: undefined };
  assert.equal(canonicalJson(a), '{"a":{"c":"x","d":[3,{"y":2,"z":1}]},"b":1}');
});

test('key order does not change the digest; values do', () => {
  assert.equal(digestJson({ x: 1, y: [1, 2] }), digestJson({ y: [1, 2], x: 1 }));
  assert.notEqual(digestJson({ x: 1 }), digestJson({ x: 2 }));
  assert.equal(canonicalJson(-0), canonicalJson(0));
});

test('non-finite numbers and functions are refused with their path', () => {
  assert.throws(() => canonicalJson({ a: [1, Number.NaN] }), /non-finite number at \$\.a\[1\]/);
  assert.throws(() => canonicalJson({ f: () => 1 }), /unsupported function at \$\.f/);
});

test('pure-JS sha256 agrees with node:crypto', () => {
  const text = 'robustok ✓ '.repeat(1000);
  const expected = createHash('sha256').update(text, 'utf8').digest('hex');
  assert.equal(sha256Hex(text), expected);
  assert.ok(isSha256Hex(expected));
  assert.ok(!isSha256Hex('xyz'));
});
