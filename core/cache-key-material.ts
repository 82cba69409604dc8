/**
 * The content identity of one stage run's inputs, known once its producers finished. In core/ because
 * both the planner (plan/cache-key.ts) and the run records (core/run-record.ts) speak it, and core/
 * imports nothing above it.
 */
import type { Json } from './canonical-json';

export interface CacheKeyMaterial {
  readonly kind: string;
  readonly version: string;
  readonly config: Json;
  /** input name → sha256 of the producer's output content. */
  readonly inputDigests: Readonly<Record<string, string>>;
  readonly seed: number;
}
