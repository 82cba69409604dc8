/**
 * Resource units and matching (core/resources.ts).   node --import tsx --test test/unit/core/resources.test.ts
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeOffer, describeRequest, formatBytes, isEmptyRequest, meets, parseMemory, parseOfferOverrides, shortfalls } from '../../../core/resources';

const GiB = 2 ** 30;

test('memory sizes: binary and decimal units, any case, spaces, decimals, plain bytes', () => {
  const bytes = (v: number | string) => {
    const r = parseMemory(v);
    if ('error' in r) assert.fail(r.error);
    return r.bytes;
  };
  assert.equal(bytes('16GiB'), 16 * GiB);
  assert.equal(bytes('512MiB'), 512 * 2 ** 20);
  assert.equal(bytes('1.5 gib'), 1.5 * GiB);
  assert.equal(bytes('64GB'), 64e9);
  assert.equal(bytes('16Gi'), 16 * GiB);
  assert.equal(bytes('2TiB'), 2 * 2 ** 40);
  assert.equal(bytes(17179869184), 16 * GiB);
  assert.equal(bytes('17179869184'), 16 * GiB);
});

test('memory sizes that are refused say why', () => {
  const error = (v: number | string) => {
    const r = parseMemory(v);
    assert.ok('error' in r, `${String(v)} should be refused`);
    return r.error;
  };
  assert.match(error(16), /16 is 16 bytes: write the unit, e\.g\. 16GiB/);
  assert.match(error('16'), /write the unit/);
  assert.match(error('16 parsecs'), /is not a memory size/);
  assert.match(error('GiB'), /is not a memory size/);
  assert.match(error('-1GiB'), /is not a memory size/);
  assert.match(error(0), /greater than 0/);
  assert.match(error('0GiB'), /greater than 0/);
});

test('formatBytes: binary units, one decimal at most', () => {
  assert.equal(formatBytes(16 * GiB), '16 GiB');
  assert.equal(formatBytes(7.6 * GiB), '7.6 GiB');
  assert.equal(formatBytes(512 * 2 ** 20), '512 MiB');
  assert.equal(formatBytes(1000), '1000 B');
});

test('an offer meets a request when every asked amount is offered; shortfalls name what is missing', () => {
  const offer = { gpus: 0, memoryBytes: 8 * GiB, cpus: 2 };
  assert.equal(meets(offer, {}), true);
  assert.equal(meets(offer, { memory: '8GiB', cpus: 2, gpus: 0 }), true);
  assert.equal(meets(offer, { memory: '9GiB' }), false);
  assert.deepEqual(shortfalls({ gpus: 1, memory: '16GiB', cpus: 1 }, offer), [
    { name: 'gpus', asked: 1, offered: 0 },
    { name: 'memory', asked: 16 * GiB, offered: 8 * GiB },
  ]);
  assert.equal(describeRequest({ memory: '16GiB', gpus: 1 }), 'gpus 1, memory 16 GiB');
  assert.equal(describeOffer(offer), 'gpus 0, memory 8 GiB, cpus 2');
  assert.equal(isEmptyRequest({}), true);
  assert.equal(isEmptyRequest({ cpus: 1 }), false);
});

test('worker --resources overrides: any subset, checked', () => {
  assert.deepEqual(parseOfferOverrides('gpus=2,memory=64GiB'), { offer: { gpus: 2, memoryBytes: 64 * GiB } });
  assert.deepEqual(parseOfferOverrides(' cpus=16 '), { offer: { cpus: 16 } });
  const error = (t: string) => {
    const r = parseOfferOverrides(t);
    assert.ok('error' in r, `${t} should be refused`);
    return r.error;
  };
  assert.match(error('gpus=1.5'), /whole number/);
  assert.match(error('gpu=1'), /unknown resource "gpu" \(known: gpus, memory, cpus\)/);
  assert.match(error('memory'), /has no value/);
  assert.match(error('memory=lots'), /is not a memory size/);
  assert.match(error('cpus=0'), /cpus is a number > 0/);
});
