/**
 * Prints issues for humans, one per problem:
 *   pipelines/demo.yaml:12:7: unknown key "cofig" (did you mean "config"?) [UNKNOWN_KEY]
 *     → at stages.train.cofig
 * Pure.
 */
import type { SpecIssue } from './types';

export function formatIssues(issues: readonly SpecIssue[]): string {
  return issues
    .map((i) => {
      const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
      const head = `${where}: ${i.message} [${i.code}]`;
      return i.path === '' ? head : `${head}\n  → at ${i.path}`;
    })
    .join('\n');
}
