#!/usr/bin/env node
// `npx robustok …`. Runs the compiled CLI (dist/, `npm run build`) in this very process when dist/ is
// current (bin/dist-stamp.js; a few ms to check), else the TypeScript sources under `node --import tsx`
// in a child process — a fresh clone or an edited checkout still works, about 1.5 s slower per call.
// ROBUSTOK_CLI=dist | tsx forces one (dist: even if stale; tsx: e.g. to compare).
//
// In-process saves a second Node start; Ctrl-C and other signals reach the CLI's own handlers
// (cli/interrupt.ts) exactly as they reached the child. The tsx path is a child rather than tsx's
// in-process hooks because the CLI loads commands and stage kinds lazily with `import('./x.js')`, which
// Node resolves through its ESM loader: only `--import tsx` hooks both loaders. That child shares the
// terminal: Ctrl-C reaches it directly; we only relay signals sent to us by pid.
const path = require('node:path');
const { builtStamp, distIsCurrent } = require('./dist-stamp.js');

const root = path.join(__dirname, '..');
const dist = path.join(root, 'dist');
const mode = process.env.ROBUSTOK_CLI;

if (mode === 'dist' || (mode !== 'tsx' && distIsCurrent(root, dist))) {
  if (builtStamp(dist) === undefined) {
    console.error('error [CONFIG_INVALID]: ROBUSTOK_CLI=dist but dist/ holds no complete build: run `npm run build` first');
    process.exit(2);
  }
  // Node >= 22.1 keeps compiled bytecode between runs (tens of ms per start); absent on Node 20.
  require('node:module').enableCompileCache?.();
  require(path.join(dist, 'bin', 'cli.js'));
} else {
  if (mode === undefined && process.stderr.isTTY && builtStamp(dist) !== undefined)
    console.error('robustok: dist/ is older than the sources; running them through tsx (`npm run build` makes the CLI start faster)');
  runThroughTsx();
}

function runThroughTsx() {
  const { spawn } = require('node:child_process');
  const { pathToFileURL } = require('node:url');
  // tsx's loader by absolute URL: `--import tsx` would resolve from the user's working directory
  const tsx = pathToFileURL(path.join(path.dirname(require.resolve('tsx/package.json')), 'dist', 'loader.mjs')).href;
  const child = spawn(process.execPath, ['--import', tsx, path.join(__dirname, 'cli.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      // a terminal Ctrl-C already reached the child (same process group); relaying it would double it
      if (sig !== 'SIGINT' || !process.stdin.isTTY) child.kill(sig);
    });
  }
  child.on('exit', (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}
