/**
 * The project folder (package.json, package-lock.json, node_modules, the TypeScript sources), whether
 * this code runs from the sources through tsx (<root>/infra/) or compiled (<root>/dist/infra/, marked by
 * dist/build-stamp.json): modules that find files by `__dirname/..` use this instead.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

const parent = path.resolve(__dirname, '..');

export const PACKAGE_ROOT = existsSync(path.join(parent, 'build-stamp.json')) ? path.dirname(parent) : parent;
