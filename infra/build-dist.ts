/**
 * `npm run build`: compiles the CLI and everything it loads into dist/ so the `robustok` bin starts
 * without transpiling TypeScript at run time (bin/robustok.js falls back to tsx while dist/ is missing or
 * older than the sources).
 *
 * - Every source file to CommonJS, one output per input (esbuild, transpile only: `tsc --noEmit` is the
 *   type check). Per file rather than bundled, so the lazy `import('./x.js')` of commands and stage kinds
 *   still loads each only on use, and `__dirname` stays the folder of each module.
 * - The files modules read beside themselves (bin/dist-stamp.js ASSETS), copied next to their code.
 * - The pipeline workflow bundle (dist/workflows/pipeline.bundle.json), which workers otherwise build
 *   with webpack on their first start per source version (cli/worker.ts).
 * - build-stamp.json last, recording the sources it was built from; the stamp is taken before compiling,
 *   so an edit during the build leaves dist/ stale rather than wrongly current.
 *
 * The build happens in a scratch folder renamed over dist/ at the end: a CLI starting meanwhile finds
 * either the old complete build or none (and runs through tsx), never half of one.
 */
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { build, version as esbuildVersion } from 'esbuild';
import { ASSETS, STAMP_FILE, sourceFiles, sourceStamp } from '../bin/dist-stamp.js';

const ROOT = path.resolve(__dirname, '..');
export const DIST = path.join(ROOT, 'dist');
/** The prebuilt pipeline workflow bundle, relative to dist/ (cli/worker.ts reads it beside its own folder). */
export const WORKFLOW_BUNDLE = path.join('workflows', 'pipeline.bundle.json');

export async function buildDist(log: (l: string) => void = (l) => console.error(l)): Promise<void> {
  const t0 = Date.now();
  const stamp = sourceStamp(ROOT);
  const files = sourceFiles(ROOT);
  const tmp = `${DIST}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await build({
    entryPoints: files.map((f) => path.join(ROOT, f)),
    outdir: tmp,
    outbase: ROOT,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // `import('./x.js')` becomes a require in a promise: the lazy commands and stage kinds then load through
    // the CommonJS loader alone, without starting Node's ESM loader (and its export lexing) for each.
    supported: { 'dynamic-import': false },
    // Stack traces map back to the TypeScript with NODE_OPTIONS=--enable-source-maps.
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  for (const a of ASSETS) {
    await mkdir(path.dirname(path.join(tmp, a)), { recursive: true });
    await copyFile(path.join(ROOT, a), path.join(tmp, a));
  }
  log(`compiled ${files.length} files with esbuild ${esbuildVersion} (${Date.now() - t0} ms)`);
  const t1 = Date.now();
  // Loaded only here: webpack is what makes this step take seconds.
  const { buildPipelineBundle } = await import('../cli/worker.js');
  await writeFile(path.join(tmp, WORKFLOW_BUNDLE), JSON.stringify(await buildPipelineBundle()));
  log(`bundled the pipeline workflow (${Date.now() - t1} ms)`);
  await writeFile(path.join(tmp, STAMP_FILE), `${JSON.stringify({ sources: stamp, builtAt: new Date().toISOString(), esbuild: esbuildVersion }, null, 2)}\n`);
  const old = `${DIST}.old-${process.pid}`;
  await rename(DIST, old).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw e;
  });
  try {
    await rename(tmp, DIST);
  } catch (e) {
    // Another build (a test, the bench) put its dist/ in place between our two renames: keep that one.
    await rm(tmp, { recursive: true, force: true });
    if ((e as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  await rm(old, { recursive: true, force: true });
  log(`dist/ built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

if (require.main === module) {
  buildDist().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
