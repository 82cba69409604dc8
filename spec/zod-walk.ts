/**
 * Looks inside zod schemas by path: which keys an object allows (for "did you mean"), and whether a
 * sweep path names something a stage config can hold. Reads zod v4's `_zod.def` (its documented
 * introspection surface for library authors). Pure.
 */
import type { PathSegment } from './path';

interface Def {
  readonly type: string;
  readonly shape?: Readonly<Record<string, Walkable>>;
  readonly catchall?: Walkable;
  readonly innerType?: Walkable;
  readonly in?: Walkable;
  readonly valueType?: Walkable;
  readonly element?: Walkable;
  readonly items?: readonly Walkable[];
  readonly options?: readonly Walkable[];
  readonly left?: Walkable;
  readonly right?: Walkable;
  getter?(): Walkable;
}

/** Any zod schema, seen through its definition. */
export interface Walkable {
  readonly _zod: { readonly def: Def };
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional', 'success']);

function unwrap(schema: Walkable): Walkable {
  let s = schema;
  for (let i = 0; i < 64; i++) {
    const d = s._zod.def;
    if (WRAPPERS.has(d.type) && d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'lazy' && d.getter) s = d.getter();
    else return s;
  }
  return s;
}

/** 'any' = the schema accepts anything below this point (unknown, any, json). */
export type SchemaAt = Walkable | 'any' | undefined;

/** The schema of the value at `path`, or undefined if no value can exist there. */
export function schemaAt(schema: Walkable, path: readonly PathSegment[]): SchemaAt {
  let cur: SchemaAt = schema;
  for (const seg of path) {
    if (cur === undefined || cur === 'any') return cur;
    cur = child(unwrap(cur), seg);
  }
  return cur;
}

function child(s: Walkable, seg: PathSegment): SchemaAt {
  const d = s._zod.def;
  switch (d.type) {
    case 'any':
    case 'unknown':
      return 'any';
    case 'object':
      if (typeof seg === 'string' && d.shape && Object.hasOwn(d.shape, seg)) return d.shape[seg];
      return d.catchall && d.catchall._zod.def.type !== 'never' ? d.catchall : undefined;
    case 'record':
      return typeof seg === 'string' ? d.valueType : undefined;
    case 'array':
      return typeof seg === 'number' ? d.element : undefined;
    case 'tuple':
      return typeof seg === 'number' ? d.items?.[seg] : undefined;
    case 'union': {
      for (const o of d.options ?? []) {
        const c = child(unwrap(o), seg);
        if (c !== undefined) return c;
      }
      return undefined;
    }
    case 'intersection':
      return (d.left && child(unwrap(d.left), seg)) ?? (d.right && child(unwrap(d.right), seg));
    default:
      return undefined;
  }
}

/** Is the value at this point a free-form map (a record: any key goes, so a typo is not caught)? */
export function isFreeFormMap(schema: SchemaAt): boolean {
  return schema !== undefined && schema !== 'any' && unwrap(schema)._zod.def.type === 'record';
}

/** Keys an object schema at this point declares (empty when it is not an object). */
export function keysOf(schema: SchemaAt): string[] {
  if (schema === undefined || schema === 'any') return [];
  const s = unwrap(schema);
  const d = s._zod.def;
  if (d.type === 'object') return Object.keys(d.shape ?? {});
  if (d.type === 'union') return (d.options ?? []).flatMap((o) => keysOf(o));
  return [];
}
