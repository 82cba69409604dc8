/**
 * What spec validation and planning need to know about a stage kind, without running it.
 * Pure (zod only): spec/ and plan/ take a StageCatalog, so they never import stage code.
 */
import type { z } from 'zod';

export interface StageIo {
  /** Input names the stage needs ('any' ⇒ whatever the spec declares, e.g. the command stage). */
  readonly required: readonly string[] | 'any';
  readonly optional?: readonly string[];
}

export interface StageDescriptor<C = unknown> {
  readonly kind: string;
  /** Bump when the stage's behaviour changes: it is part of every cache key of this kind. */
  readonly version: string;
  readonly description: string;
  readonly configSchema: z.ZodType<C>;
  inputs(config: C): StageIo;
  /** Input names the config itself refers to (e.g. argv placeholders), with where: each must be wired. */
  inputRefs?(config: C): readonly { readonly name: string; readonly path: readonly (string | number)[] }[];
  outputs(config: C): readonly string[];
}

export interface StageCatalog {
  get(kind: string): StageDescriptor | undefined;
  kinds(): readonly string[];
}

/** Erases a descriptor's config type: the catalog hands configs through its own schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStageDescriptor = StageDescriptor<any>;

export function catalogOf(descriptors: readonly AnyStageDescriptor[]): StageCatalog {
  const byKind = new Map<string, StageDescriptor>(descriptors.map((d) => [d.kind, d as StageDescriptor]));
  return { get: (k) => byKind.get(k), kinds: () => [...byKind.keys()].sort() };
}
