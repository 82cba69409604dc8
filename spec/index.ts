/** The spec layer's public API. Everything here is pure except loadSpecFile (reads a file). */
export { API_VERSION } from './types';
export type { FailurePolicy, LoadedSpec, RetrySpec, SourceMap, SourcePosition, Spec, SpecIssue, StageSpec, SweepAxis, SweepSpec, TimeoutSpec } from './types';
export { loadSpecText, MAX_SWEEP_ARMS } from './load';
export { loadSpecFile } from './load-file';
export { formatIssues } from './format';
export { specJsonSchema } from './json-schema';
export { SPEC_ISSUE_CODES, type SpecIssueCode } from './issues';
export { DURATION_PATTERN, durationMs } from './duration';
export { BUILTIN_RETRY, BUILTIN_TIMEOUTS, DEFAULT_QUEUE } from './schema';
export { formatPath, parsePath, type PathSegment } from './path';
export { axisValues, rangeValues, MAX_AXIS_VALUES } from './sweep-values';
