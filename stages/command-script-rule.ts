/**
 * The rule that keeps `command` placeholders out of code: a substituted value (a param from the
 * spec, `--set` or a sweep; a path) must never become text that a shell or an interpreter parses.
 * `[sh, -c, "echo ${params.who}"]` with who = `$(rm -rf ~)` would run it.
 *
 * Rejected (validate: UNSAFE_PLACEHOLDER at the argv element; at run time: CONFIG_INVALID):
 *   - any placeholder inside the code argument of an interpreter's eval option:
 *       sh bash zsh dash ksh mksh ash yash posh csh tcsh fish  -c (also in clusters: -ec, -lc, -xc)
 *       python* pypy*  -c        node nodejs  -e -p --eval --print (also --eval=…, -pe)
 *       perl*  -e -E (also -ne, -lne…)        ruby*  -e (also -ne…)
 *     wherever the interpreter appears in argv (so `env sh -c`, `/bin/bash -c`, `nice python -c`);
 *   - a ${params.…} at the start of an element still in an interpreter's option region (before its
 *     script, first plain argument or `--`): a value like `-e…` or `--require=…` would be an option.
 *     node, perl and ruby keep reading options after their code, so `[node, -e, CODE, ${params.n}]`
 *     needs a `--` before the arguments;
 *   - ${params.…} in argv[0] (the program itself).
 * Allowed: placeholders in arguments after the code (`sh -c 'echo "$1"' sh ${params.who}`), since
 * they reach the program as data; and the env-var form (RT_PARAM_K, RT_INPUT_X, RT_OUTPUT_Y,
 * RT_WORKDIR), which is always data. Pure: spec validation and the stage both use it.
 */

/** Only our scopes are placeholders; any other ${…} (a shell or JS template) is text. */
export const PLACEHOLDER = /\$\{(inputs|outputs|params|workdir)(?:\.([A-Za-z0-9_-]+))?\}/g;

/** The env var a named input/output/param also reaches the program as. */
export function envName(prefix: string, name: string): string {
  return `${prefix}${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

export interface UnsafePlaceholder {
  /** Index of the offending argv element. */
  readonly index: number;
  readonly message: string;
}

type Family = 'shell' | 'python' | 'node' | 'perl' | 'ruby';

function familyOf(arg: string): Family | undefined {
  const base = arg.slice(arg.lastIndexOf('/') + 1);
  if (/^((ba|z|da|k|mk|pdk|a|ya|po|c|tc)?sh|ksh93|fish)$/.test(base)) return 'shell';
  if (/^(python|pypy)(\d+(\.\d+)*)?[a-z]?$/.test(base)) return 'python';
  if (/^(node|nodejs)(\d+)?$/.test(base)) return 'node';
  if (/^perl(\d+(\.\d+)*)?$/.test(base)) return 'perl';
  if (/^ruby(\d+(\.\d+)*)?$/.test(base)) return 'ruby';
  return undefined;
}

/**
 * Where the code of an eval option is, for one option element: 'next' (the following element;
 * for a shell, the first plain argument after its options), 'attached' (the rest of this element),
 * or undefined when the element is not an eval option. Clusters follow each program's parser:
 * flags before the eval letter must be ones that take no value.
 */
function evalOption(family: Family, opt: string): 'next' | 'attached' | undefined {
  if (opt.startsWith('--')) {
    if (family !== 'node') return undefined;
    if (opt === '--eval' || opt === '--print') return 'next';
    return opt.startsWith('--eval=') || opt.startsWith('--print=') ? 'attached' : undefined;
  }
  if (!opt.startsWith('-')) return undefined;
  const flags = opt.slice(1);
  const cluster: Record<Family, RegExp> = {
    shell: /^[A-Za-z]*c[A-Za-z]*$/,
    python: /^[bBdEhiIOPqsSuvVxR]*c/,
    node: /^[A-Za-z]*[ep]$/,
    perl: /^(?:[acnpstTuUvwWX]|l[0-7]*|0[0-7]*)*[eE]/,
    ruby: /^(?:[acdlnpsSvwWy]|0[0-7]*)*e/,
  };
  const m = cluster[family].exec(flags);
  if (!m) return undefined;
  if (family === 'shell' || family === 'node') return 'next';
  return m[0].length === flags.length ? 'next' : 'attached';
}

/** Options whose value is the next element (so that element is not the first plain argument). */
const TAKES_VALUE: Record<Family, RegExp> = {
  shell: /^[-+]o$|^--(init-file|rcfile)$/,
  python: /^-[WX]$/,
  node: /^(-r|--require|--import|--loader|--experimental-loader|-C|--conditions|--input-type|--title|--env-file)$/,
  perl: /^-I$/,
  ruby: /^(-r|-I|-C|-E|--encoding|--external-encoding|--internal-encoding)$/,
};

function placeholdersIn(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[0]);
}

/** The env var each placeholder also reaches the program as. */
function envNames(placeholders: readonly string[]): string[] {
  const names = new Set<string>();
  for (const p of placeholders) {
    const m = /^\$\{(inputs|outputs|params|workdir)(?:\.([A-Za-z0-9_-]+))?\}$/.exec(p);
    if (!m) continue;
    if (m[1] === 'workdir') names.add('RT_WORKDIR');
    else if (m[2] !== undefined) names.add(envName(m[1] === 'inputs' ? 'RT_INPUT_' : m[1] === 'outputs' ? 'RT_OUTPUT_' : 'RT_PARAM_', m[2]));
  }
  return [...names];
}

const READ_ENV: Record<Family, (n: string) => string> = {
  shell: (n) => `"$${n}"`,
  python: (n) => `os.environ['${n}']`,
  node: (n) => `process.env.${n}`,
  perl: (n) => `$ENV{${n}}`,
  ruby: (n) => `ENV['${n}']`,
};

function inCode(index: number, program: string, option: string, family: Family, found: readonly string[]): UnsafePlaceholder {
  const names = envNames(found);
  return {
    index,
    message:
      `argv[${index}] is code run by '${program} ${option}' and contains ${found.join(', ')}: the substituted value would be parsed as code ` +
      `(a param such as "$(rm -rf ~)" would run). Read it from the environment instead: ${names.map(READ_ENV[family]).join(', ')}; ` +
      `or pass it as an argument after the code`,
  };
}

function inOptions(index: number, program: string, placeholder: string): UnsafePlaceholder {
  const name = /^\$\{params\.([A-Za-z0-9_-]+)\}/.exec(placeholder)?.[1] ?? 'K';
  return {
    index,
    message:
      `argv[${index}] starts with ${placeholder} where '${program}' still reads its own options: a value such as "-c…", "-e…" or "--require=…" would be taken as one. ` +
      `Put a literal '--' before the program's arguments, or read $${envName('RT_PARAM_', name)} from the environment`,
  };
}

const isOption = (a: string) => /^[-+]./.test(a);

/** Every argv element where a placeholder could be interpreted as code (empty ⇒ argv is safe). */
export function unsafePlaceholders(argv: readonly string[]): UnsafePlaceholder[] {
  const out: UnsafePlaceholder[] = [];
  const first = argv[0] ?? '';
  if (/\$\{params\./.test(first)) {
    out.push({
      index: 0,
      message: `argv[0] contains ${placeholdersIn(first).join(', ')}: write the program to run in the spec, not in a param (a param could name a shell)`,
    });
  }
  // After `sh -c SCRIPT`, the next element is the script's $0 (conventionally `sh` again), not a program.
  const notPrograms = new Set<number>();
  for (let i = 0; i < argv.length; i++) {
    const program = argv[i] ?? '';
    const family = familyOf(program);
    if (family === undefined || notPrograms.has(i)) continue;
    let shellOption: string | undefined; // a shell's -c: its script is the first plain argument
    for (let j = i + 1; j < argv.length; j++) {
      const a = argv[j] ?? '';
      if (a === '--' || !isOption(a)) {
        const script = a === '--' ? j + 1 : j;
        const text = argv[script];
        if (shellOption !== undefined && text !== undefined) {
          notPrograms.add(script + 1);
          const found = placeholdersIn(text);
          if (found.length > 0) out.push(inCode(script, program, shellOption, family, found));
        } else if (a !== '--' && /^\$\{params\./.test(a)) {
          out.push(inOptions(j, program, placeholdersIn(a)[0] ?? a));
        }
        break;
      }
      const code = evalOption(family, a);
      if (code === undefined) {
        if (TAKES_VALUE[family].test(a)) j++;
        continue;
      }
      if (family === 'shell') {
        shellOption = a;
        continue;
      }
      const at = code === 'attached' ? j : j + 1;
      const found = placeholdersIn(argv[at] ?? '');
      if (found.length > 0) out.push(inCode(at, program, a.split('=')[0] ?? a, family, found));
      if (code === 'next') j++;
      // python -c ends its options; node, perl and ruby read on (more code, more options).
      if (family === 'python') break;
    }
  }
  return out;
}
