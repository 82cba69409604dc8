/** Identifies the program that produced an artifact: package version + digest of the lockfile. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../infra/package-root';

let cached: string | undefined;

export function codeVersion(): string {
  if (cached !== undefined) return cached;
  const root = PACKAGE_ROOT;
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  let lock = 'nolock';
  try {
    lock = createHash('sha256')
      .update(readFileSync(path.join(root, 'package-lock.json')))
      .digest('hex')
      .slice(0, 12);
  } catch {
    // running from a packed copy without a lockfile
  }
  cached = `${pkg.name}@${pkg.version}+lock.${lock}`;
  return cached;
}
