/** The only place that maps a stage kind to its implementation. */
import { commandStage } from './command';
import type { StageImpl } from './stage';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const stages: readonly StageImpl<any>[] = [commandStage];

const byKind = new Map(stages.map((s) => [s.descriptor.kind, s]));

export function stageImpl(kind: string): StageImpl<unknown> | undefined {
  return byKind.get(kind) as StageImpl<unknown> | undefined;
}
