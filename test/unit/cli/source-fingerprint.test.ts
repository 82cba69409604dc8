/**
 * files.import / weights.import: the planner pins what it saw at a local source (`sourceStat`), so a
 * file or directory regenerated at the same path changes the stage's cache key, while an untouched one
 * keeps it. Checked through loadPlan, the path every command that plans takes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadPlan } from '../../../cli/load-plan';
import { statFingerprint } from '../../../cli/source-fingerprint';

async function keyOf(specFile: string, stage: string): Promise<string> {
  const planned = await loadPlan(specFile, []);
  assert.ok(planned.ok, JSON.stringify(!planned.ok && planned.issues));
  const run = planned.plan.runs.find((r) => r.stageId === stage);
  assert.ok(run, `no run of ${stage}`);
  return run.structuralKey; // no inputs: the key of its config, version and seed
}

test('a directory source: same files same key; a touched, added or removed file changes it', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'src-fp-'));
  const data = path.join(dir, 'data');
  await mkdir(path.join(data, 'class0'), { recursive: true });
  await writeFile(path.join(data, 'class0', 'a.png'), 'aaaa');
  await writeFile(path.join(data, 'b.png'), 'bb');
  const spec = path.join(dir, 'spec.yaml');
  await writeFile(
    spec,
    ['apiVersion: robustok.dev/v1', 'name: imports', 'stages:', '  - id: data', '    kind: files.import', '    config:', `      source: ${data}`, ''].join(
      '\n',
    ),
  );
  const k0 = await keyOf(spec, 'data');
  assert.equal(await keyOf(spec, 'data'), k0, 'nothing changed: same key');

  const t = new Date('2026-01-01T00:00:00Z');
  await utimes(path.join(data, 'b.png'), t, t);
  const k1 = await keyOf(spec, 'data');
  assert.notEqual(k1, k0, 'a touched file changes the key');
  await writeFile(path.join(data, 'class0', 'c.png'), 'c');
  const k2 = await keyOf(spec, 'data');
  assert.notEqual(k2, k1, 'an added file changes the key');

  const fp = await statFingerprint(data);
  assert.match(fp ?? '', /^dir files=3 bytes=7 listing=[0-9a-f]{32}$/);
  assert.equal(await statFingerprint(`file://${data}`), fp, 'file:// names the same place');
});

test('a file source is keyed by size and mtime unless sha256 pins it; unseen sources keep the name-only key', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'src-fp-'));
  const weights = path.join(dir, 'w.safetensors');
  await writeFile(weights, 'x'.repeat(10));
  const write = (extra: string[]) =>
    writeFile(
      path.join(dir, 'spec.yaml'),
      [
        'apiVersion: robustok.dev/v1',
        'name: imports',
        'stages:',
        '  - id: w',
        '    kind: files.import',
        '    config:',
        `      source: ${weights}`,
        ...extra,
        '',
      ].join('\n'),
    );
  await write([]);
  const k0 = await keyOf(path.join(dir, 'spec.yaml'), 'w');
  await writeFile(weights, 'y'.repeat(11));
  assert.notEqual(await keyOf(path.join(dir, 'spec.yaml'), 'w'), k0, 'rewritten file: new key');

  await write([`      sha256: '${'0'.repeat(64)}'`]);
  const pinned = await keyOf(path.join(dir, 'spec.yaml'), 'w');
  const t = new Date('2025-06-01T00:00:00Z');
  await utimes(weights, t, t);
  assert.equal(await keyOf(path.join(dir, 'spec.yaml'), 'w'), pinned, 'sha256 pins the content: the stat does not enter the key');

  assert.equal(await statFingerprint('s3://bucket/key'), undefined);
  assert.equal(await statFingerprint(path.join(dir, 'missing')), undefined);
});
