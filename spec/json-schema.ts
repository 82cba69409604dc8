/**
 * specJsonSchema: a JSON Schema (draft 2020-12) of the spec for editors (e.g. the YAML language
 * server: `# yaml-language-server: $schema=robustok.schema.json`). Each stage kind's config schema
 * is attached with if/then on `kind`. Refinements that JSON Schema cannot express (sweep path
 * existence, input wiring, cycles) are checked by the loader and the planner only. Pure.
 */
import { z } from 'zod';
import type { StageCatalog } from '../stages/descriptor';
import { defaultsSchema, identifier, stageBodySchema, stageItemSchema, sweepAxesSchema, sweepMapSchema, topLevelSchema } from './schema';

type JsonSchema = Record<string, unknown>;

export function specJsonSchema(catalog: StageCatalog): JsonSchema {
  const kinds = catalog.kinds();
  const perKind = kinds.flatMap((kind) => {
    const d = catalog.get(kind);
    if (!d) return [];
    const config = strip(z.toJSONSchema(d.configSchema, { io: 'input', unrepresentable: 'any' }));
    return [{ if: { properties: { kind: { const: kind } }, required: ['kind'] }, then: { properties: { config: { description: d.description, ...config } } } }];
  });
  const kindEnum = kinds.length > 0 ? z.enum(kinds as [string, ...string[]]) : z.string();
  const body = stageBodySchema.extend({ kind: kindEnum });
  const item = stageItemSchema.extend({ kind: kindEnum });
  const whole = topLevelSchema.extend({
    defaults: defaultsSchema.optional(),
    stages: z.union([z.record(identifier('a stage id'), body), z.array(item).min(1)]),
    sweep: z.union([sweepMapSchema, sweepAxesSchema]).optional(),
  });
  const schema = z.toJSONSchema(whole, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' });
  // Attach the per-kind config schemas to both stage forms.
  const stagesSchema = (schema.properties as Record<string, { anyOf?: JsonSchema[] }> | undefined)?.stages;
  for (const form of stagesSchema?.anyOf ?? []) {
    const stage = (form.additionalProperties ?? form.items) as JsonSchema | undefined;
    if (stage && perKind.length > 0) stage.allOf = perKind;
  }
  return { ...schema, $id: 'https://robustok.dev/schemas/pipeline-v1.json', title: 'RobusTok pipeline spec' };
}

/** A nested schema must not restate $schema. */
function strip(s: JsonSchema): JsonSchema {
  const { $schema: _drop, ...rest } = s;
  return rest;
}
