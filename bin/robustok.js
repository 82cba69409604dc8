#!/usr/bin/env node
// `npx robustok …`: runs the TypeScript CLI through tsx's require hook (no build step).
require('tsx/cjs/api').register();
require('./cli.ts');
