/** The plan layer's public API. Pure: workflows may import it. */
export { buildPlan, NO_SOURCE } from './build';
export { cacheKey, explainKeyChange, keyMaterial } from './cache-key';
export { expandArms, expandAxes, setAtPath } from './sweep';
export { findCycles, topoOrder } from './graph';
export type { CacheKeyMaterial, Plan, PlanArm, PlannedInput, StageRun } from './types';
