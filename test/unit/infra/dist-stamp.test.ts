/**
 * The bin runs dist/ only while it was built from exactly the sources in the checkout (bin/dist-stamp.js):
 * an edit, a new, a deleted or a renamed source file, a dependency change, or an incomplete build each make
 * it fall back to tsx. On a scratch tree of a few files (no build needed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { builtStamp, distIsCurrent, sourceFiles, sourceStamp, STAMP_FILE } from '../../../bin/dist-stamp.js';
import { tempDir } from '../../helpers/servers';

async function scratchTree(): Promise<string> {
  const root = await tempDir('dist-stamp');
  await mkdir(path.join(root, 'cli', 'commands'), { recursive: true });
  await mkdir(path.join(root, 'test'), { recursive: true });
  await writeFile(path.join(root, 'cli', 'a.ts'), 'export const a = 1;\n');
  await writeFile(path.join(root, 'cli', 'commands', 'b.ts'), 'export const b = 2;\n');
  await writeFile(path.join(root, 'cli', 'types.d.ts'), 'export type T = 1;\n');
  await writeFile(path.join(root, 'test', 'c.test.ts'), '');
  await writeFile(path.join(root, 'package-lock.json'), '{}\n');
  return root;
}

async function stampBuild(root: string): Promise<void> {
  await mkdir(path.join(root, 'dist'), { recursive: true });
  await writeFile(path.join(root, 'dist', STAMP_FILE), JSON.stringify({ sources: sourceStamp(root) }));
}

test('the compiled sources: .ts under the source folders, not declarations, not tests', async () => {
  const root = await scratchTree();
  assert.deepEqual(sourceFiles(root), ['cli/a.ts', 'cli/commands/b.ts']);
  await rm(root, { recursive: true, force: true });
});

test('dist/ is current right after a build, and stale after each kind of change', async () => {
  const root = await scratchTree();
  try {
    assert.equal(distIsCurrent(root), false, 'no build yet');
    await stampBuild(root);
    assert.equal(distIsCurrent(root), true);
    assert.equal(builtStamp(path.join(root, 'dist')), sourceStamp(root));

    // an edit (same size, later mtime)
    await writeFile(path.join(root, 'cli', 'a.ts'), 'export const a = 3;\n');
    assert.equal(distIsCurrent(root), false, 'edited file');
    await stampBuild(root);

    // an edit that keeps the size but, as git checkout does, sets an older mtime
    await utimes(path.join(root, 'cli', 'a.ts'), new Date(2020, 0, 1), new Date(2020, 0, 1));
    assert.equal(distIsCurrent(root), false, 'mtime moved back');
    await stampBuild(root);

    await writeFile(path.join(root, 'cli', 'new.ts'), '');
    assert.equal(distIsCurrent(root), false, 'new file');
    await stampBuild(root);

    await rename(path.join(root, 'cli', 'new.ts'), path.join(root, 'cli', 'renamed.ts'));
    assert.equal(distIsCurrent(root), false, 'renamed file');
    await stampBuild(root);

    await rm(path.join(root, 'cli', 'renamed.ts'));
    assert.equal(distIsCurrent(root), false, 'deleted file');
    await stampBuild(root);

    await writeFile(path.join(root, 'package-lock.json'), '{"x":1}\n');
    assert.equal(distIsCurrent(root), false, 'dependencies changed');
    await stampBuild(root);

    // tests are not compiled: editing one leaves dist/ current
    await writeFile(path.join(root, 'test', 'c.test.ts'), 'x');
    assert.equal(distIsCurrent(root), true, 'a test edited');

    // a build that did not finish has no stamp
    await rm(path.join(root, 'dist', STAMP_FILE));
    assert.equal(distIsCurrent(root), false, 'incomplete build');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
