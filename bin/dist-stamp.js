// Whether dist/ (the compiled CLI, `npm run build`) is current: the build records a stamp of the sources it
// compiled — every source file's path, size and modification time, plus the lockfile and tsconfig — and the
// bin recomputes it at each start (a few ms: stats only, no reads) and runs dist/ only when both agree. An
// edit, a new, deleted or renamed file, or a branch switch changes the stamp, so dist/ never runs code older
// than the checkout. Plain JavaScript: the bin needs it before anything is compiled.
const { createHash } = require('node:crypto');
const { readdirSync, readFileSync, statSync } = require('node:fs');
const path = require('node:path');

/** Folders compiled into dist/ (tsconfig's include, without test/ and bench/, which always run through tsx). */
const SOURCE_DIRS = [
  'activities',
  'artifacts',
  'bin',
  'cli',
  'compute',
  'core',
  'data',
  'infra',
  'metrics',
  'models',
  'plan',
  'report',
  'spec',
  'stages',
  'workflows',
];
/** Files read at run time by path relative to their module (copied next to the compiled code). */
const ASSETS = ['metrics/frechet-kernels.wasm'];
/** Files whose change changes the output without touching a source: dependencies, compiler settings. */
const INPUTS = ['package-lock.json', 'tsconfig.json'];
const SKIP_DIRS = new Set(['node_modules', 'target', 'fixtures']);

/** Source files (relative paths, sorted) the build compiles. */
function sourceFiles(root) {
  const out = [];
  const walk = (rel) => {
    let entries;
    try {
      entries = readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const d of SOURCE_DIRS) walk(d);
  return out.sort();
}

/** The stamp of the sources as they are now. */
function sourceStamp(root) {
  const h = createHash('sha256');
  for (const rel of [...sourceFiles(root), ...ASSETS, ...INPUTS, 'bin/dist-stamp.js']) {
    let s;
    try {
      s = statSync(path.join(root, rel));
    } catch {
      h.update(`${rel}\0missing\n`);
      continue;
    }
    h.update(`${rel}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return h.digest('hex');
}

const STAMP_FILE = 'build-stamp.json';

/** The stamp dist/ was built from, or undefined when there is no complete build. */
function builtStamp(distDir) {
  try {
    return JSON.parse(readFileSync(path.join(distDir, STAMP_FILE), 'utf8')).sources;
  } catch {
    return undefined;
  }
}

/** dist/ exists, is complete and was built from exactly these sources. */
function distIsCurrent(root, distDir = path.join(root, 'dist')) {
  const built = builtStamp(distDir);
  return built !== undefined && built === sourceStamp(root);
}

module.exports = { SOURCE_DIRS, ASSETS, STAMP_FILE, sourceFiles, sourceStamp, builtStamp, distIsCurrent };
