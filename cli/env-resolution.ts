/**
 * Config values a spec takes from the planning machine's environment, resolved before planning so
 * they become part of the cache keys like any other config. One today: eval.fid's `weightsFromEnv`
 * (ROBUSTOK_FID_WEIGHTS in the smoke pipeline): the file it names is hashed here and pinned as
 * `weightsFile` + `weightsSha256`, so setting, changing or unsetting the variable changes the FID
 * stage's key (a random-network FID is never served for a run that asked for real weights).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../artifacts/hashing';
import type { Json } from '../core/canonical-json';
import type { Spec, SpecIssue } from '../spec';

/** An issue before it is located in the source (load-plan adds file:line:column). */
export type UnlocatedIssue = Omit<SpecIssue, 'file' | 'line' | 'column'>;

export async function resolveEnvironment(spec: Spec, env: NodeJS.ProcessEnv): Promise<{ spec: Spec; issues: UnlocatedIssue[] }> {
  const issues: UnlocatedIssue[] = [];
  const stages = await Promise.all(
    spec.stages.map(async (s) => {
      const c = s.config as Record<string, Json> | null;
      if (s.kind !== 'eval.fid' || c === null || typeof c !== 'object' || typeof c.weightsFromEnv !== 'string' || c.weightsFile !== undefined) return s;
      const value = env[c.weightsFromEnv];
      if (value === undefined || value === '') return s;
      const file = path.resolve(value);
      const st = await stat(file).catch(() => undefined);
      if (!st?.isFile()) {
        issues.push({
          code: 'INPUT_MISSING',
          path: `stages.${s.id}.config.weightsFromEnv`,
          message: `${c.weightsFromEnv}=${value} is not a file: point it at the converted Inception safetensors (README "FID Inception weights"), or unset it for the random network`,
        });
        return s;
      }
      return { ...s, config: { ...c, weightsFile: file, weightsSha256: await sha256File(file) } };
    }),
  );
  return { spec: { ...spec, stages }, issues };
}
