/** The editor JSON Schema.   node --import tsx --test test/unit/spec/json-schema.test.ts */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { specJsonSchema } from '../../../spec/index';
import { stageCatalog } from '../../../stages/catalog';
import { catalogOf } from '../../../stages/descriptor';

type Schema = Record<string, unknown>;
const get = (s: unknown, ...path: string[]): unknown =>
  path.reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), s);

test('the schema is draft 2020-12 with the top-level keys, closed to unknown keys', () => {
  const s = specJsonSchema(stageCatalog);
  assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.deepEqual(Object.keys(get(s, 'properties') as Schema).sort(), ['apiVersion', 'concurrency', 'defaults', 'failurePolicy', 'name', 'stages', 'sweep']);
  assert.equal(get(s, 'additionalProperties'), false);
  assert.equal(get(s, 'properties', 'apiVersion', 'const'), 'robustok.dev/v1');
  assert.deepEqual(get(s, 'required'), ['apiVersion', 'name', 'stages']);
  // Round-trips through JSON (what an editor reads).
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
});

test('both stage forms carry the command kind config schema under if kind = command', () => {
  const s = specJsonSchema(stageCatalog);
  const forms = get(s, 'properties', 'stages', 'anyOf') as Schema[];
  assert.equal(forms.length, 2);
  for (const form of forms) {
    const stage = (form.additionalProperties ?? form.items) as Schema;
    assert.deepEqual(get(stage, 'properties', 'kind', 'enum'), [...stageCatalog.kinds()]);
    assert.ok(stageCatalog.kinds().includes('tokenizer.train'));
    const rules = stage.allOf as Schema[];
    const command = rules.find((r) => get(r, 'if', 'properties', 'kind', 'const') === 'command');
    assert.ok(command, 'an if/then for the command kind');
    const config = get(command, 'then', 'properties', 'config') as Schema;
    assert.deepEqual(config.required, ['argv']);
    assert.deepEqual(Object.keys(config.properties as Schema).sort(), ['argv', 'env', 'metricsFile', 'outputs', 'params', 'passEnv', 'shell', 'successCodes']);
    assert.equal(config.additionalProperties, false);
    assert.equal(config.$schema, undefined);
  }
});

test('each kind gets its own rule; an empty catalog still yields a schema', () => {
  const other = {
    kind: 'noop',
    version: '1',
    description: 'does nothing',
    configSchema: z.strictObject({ n: z.int() }),
    inputs: () => ({ required: [] }),
    outputs: () => [],
  };
  const s = specJsonSchema(catalogOf([other, ...stageCatalog.kinds().map((k) => stageCatalog.get(k)!)]));
  const stage = get(s, 'properties', 'stages', 'anyOf', '0', 'additionalProperties') as Schema;
  assert.deepEqual(get(stage, 'properties', 'kind', 'enum'), [...stageCatalog.kinds(), 'noop'].sort());
  assert.equal((stage.allOf as Schema[]).length, stageCatalog.kinds().length + 1);
  const empty = specJsonSchema(catalogOf([]));
  assert.equal(get(empty, 'properties', 'stages', 'anyOf', '0', 'additionalProperties', 'allOf'), undefined);
});
