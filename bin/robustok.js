#!/usr/bin/env node
// `npx robustok …`: runs the TypeScript CLI under `node --import tsx` (no build step). A child process
// rather than tsx's in-process CJS hook, because the CLI loads commands and stage kinds lazily with
// `import('./x.js')`, which Node resolves through its ESM loader: only `--import tsx` hooks both loaders.
// The child shares the terminal: Ctrl-C reaches it directly; we only relay signals sent to us by pid.
const { spawn } = require('node:child_process');
const path = require('node:path');
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
