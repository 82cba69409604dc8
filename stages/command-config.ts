/**
 * Config of the `command` stage kind: run an external program with the pipeline's caching,
 * artifacts and retries. Placeholders in argv elements are substituted (never shell-interpolated):
 *   ${inputs.NAME}  path of a materialised input      ${outputs.NAME}  path the program must write
 *   ${params.KEY}   a value from `params`             ${workdir}       the attempt's working directory
 * With `shell: true` argv is one script run by /bin/sh -c, taken literally; inputs, outputs and
 * params reach it only as environment variables (RT_INPUT_NAME, RT_OUTPUT_NAME, RT_PARAM_KEY).
 * Placeholders never land in code a shell or interpreter parses (`sh -c`, `python -c`, `node -e`…):
 * see command-script-rule.ts.
 */
import { z } from 'zod';
import { didYouMean } from '../spec/suggest';
import { PLACEHOLDER, unsafePlaceholders } from './command-script-rule';
import type { StageDescriptor } from './descriptor';

const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'use letters, digits, _ and -');
const relPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'must be a relative path inside the workdir');

/** Why a stage may not set or pass the variable `name` (undefined ⇒ it may). See command-env.ts. */
export function forbiddenEnvName(name: string): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) return 'is not an environment variable name (letters, digits and _, not starting with a digit)';
  if (name.startsWith('RT_')) return 'is set by the runner (RT_* variables)';
  if (/^(ROBUSTOK_|TEMPORAL_|MINIO_ROOT_)/.test(name))
    return "is one of the runner's own settings or credentials, never given to stage programs: pass the stage its own under another name";
  return undefined;
}

const envName = z.string().superRefine((n, ctx) => {
  const why = forbiddenEnvName(n);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(n)} ${why}` });
});

export const commandConfigSchema = z
  .strictObject({
    argv: z.array(z.string()).min(1),
    shell: z.boolean().default(false),
    /** Fixed variables for the program (the worker's environment is not inherited; see command-env.ts). */
    env: z
      .record(
        z.string(),
        z.string().refine((v) => !v.includes('\0'), 'must not contain a NUL character'),
      )
      .superRefine((env, ctx) => {
        for (const k of Object.keys(env)) {
          const why = forbiddenEnvName(k);
          if (why !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${JSON.stringify(k)} ${why}` });
        }
      })
      .default({}),
    /** Names of worker environment variables the program also gets (beyond the allow-list). */
    passEnv: z.array(envName).optional(),
    params: z.record(z.string(), z.json()).default({}),
    /** output name → path relative to the workdir (a file or a directory). */
    outputs: z.record(name, relPath).default({}),
    /** A JSON object file (relative to the workdir) the program writes; its numbers become the stage's metrics. */
    metricsFile: relPath.optional(),
    /** Exit codes that count as success. */
    successCodes: z.array(z.number().int()).default([0]),
  })
  .refine((c) => !c.shell || c.argv.length === 1, { message: 'with shell: true, argv must be exactly one script string', path: ['argv'] })
  .superRefine((c, ctx) => {
    // With shell: true nothing is substituted; otherwise no placeholder may land in code (command-script-rule.ts).
    if (c.shell) return;
    for (const u of unsafePlaceholders(c.argv))
      ctx.addIssue({ code: 'custom', path: ['argv', u.index], message: u.message, params: { specCode: 'UNSAFE_PLACEHOLDER' } });
    // What would fail at run time fails here: every placeholder names something this config declares.
    c.argv.forEach((arg, i) => {
      for (const m of arg.matchAll(PLACEHOLDER)) {
        const [whole, scope, name] = m;
        const why = placeholderProblem(scope ?? '', name, c);
        if (why !== undefined) ctx.addIssue({ code: 'custom', path: ['argv', i], message: `argv[${i}] uses ${whole}: ${why}` });
      }
    });
  });

/** Why a placeholder cannot be substituted from this config (inputs are checked against the stage's wiring by the planner). */
function placeholderProblem(
  scope: string,
  name: string | undefined,
  c: { params: Record<string, unknown>; outputs: Record<string, string> },
): string | undefined {
  if (scope === 'workdir') return name === undefined ? undefined : 'takes no name: write ${workdir}';
  if (name === undefined) return `needs a name, e.g. \${${scope}.${scope === 'params' ? 'lr' : 'data'}}`;
  const declared = scope === 'params' ? Object.keys(c.params) : scope === 'outputs' ? Object.keys(c.outputs) : undefined;
  if (declared === undefined || declared.includes(name)) return undefined;
  const what = scope === 'params' ? 'param' : 'output';
  return `no ${what} "${name}" is declared${didYouMean(name, declared)} (${scope}: ${declared.join(', ') || 'none'}); declare it under ${scope}:`;
}

export type CommandConfig = z.output<typeof commandConfigSchema>;

export const commandDescriptor: StageDescriptor<CommandConfig> = {
  kind: 'command',
  version: '1',
  description: 'Run an external program; declared inputs are materialised, declared outputs collected.',
  configSchema: commandConfigSchema,
  inputs: () => ({ required: 'any' }),
  inputRefs: (c) =>
    c.shell
      ? []
      : c.argv.flatMap((arg, i) =>
          [...arg.matchAll(PLACEHOLDER)].filter((m) => m[1] === 'inputs' && m[2] !== undefined).map((m) => ({ name: m[2] ?? '', path: ['argv', i] })),
        ),
  outputs: (c) => Object.keys(c.outputs).sort(),
};
