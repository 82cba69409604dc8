/**
 * `--set path=value` overrides, applied to the YAML document before validation so an overridden
 * value is validated exactly like one written in the file, and its issues point into the argument:
 *   --set stages.train.config.lr=0.01     --set failurePolicy=continue
 *   --set 'sweep.grid["stages.a.config.k"]=[1, 2, 3]'
 * The value is parsed as YAML (a scalar or flow collection). Positions: file '<--set>', line = the
 * 1-based index of the argument, column = 1-based column in it.
 */
import { isMap, isScalar, isSeq, LineCounter, Pair, parseDocument, Scalar, YAMLMap, type Document } from 'yaml';
import { parsePath, type PathSegment } from './path';
import { childPair, nodesUnder, OVERRIDE_FILE, type YamlSourceMap } from './source-map';
import { didYouMean } from './suggest';
import type { SpecIssue } from './types';

/** A key an override created (it was not in the file): the loader checks it may be added there. */
export interface AddedKey {
  readonly arg: number;
  /** Full path of the created key. */
  readonly path: readonly PathSegment[];
  /** 0-based column of the key in the argument. */
  readonly offset: number;
}

export function applyOverrides(doc: Document, args: readonly string[], sourceMap: YamlSourceMap, added: AddedKey[] = []): SpecIssue[] {
  const issues: SpecIssue[] = [];
  args.forEach((arg, argIndex) => {
    const problem = (offset: number, message: string, path = ''): void => {
      issues.push({ code: 'OVERRIDE_INVALID', path, message: `--set ${arg}: ${message}`, file: OVERRIDE_FILE, line: argIndex + 1, column: offset + 1 });
    };
    const eq = arg.indexOf('=');
    if (eq < 0) return problem(arg.length, 'expected path=value');
    const pathText = arg.slice(0, eq);
    const parsed = parsePath(pathText);
    if (!parsed.ok) return problem(parsed.error.offset, parsed.error.message, pathText);
    const { segments, offsets } = parsed.value;

    const valueText = arg.slice(eq + 1);
    const lineCounter = new LineCounter();
    const valueDoc = parseDocument(valueText, { lineCounter, prettyErrors: false, uniqueKeys: true });
    const syntax = valueDoc.errors[0];
    if (syntax) {
      const p = lineCounter.linePos(syntax.pos[0]);
      return problem(eq + 1 + (p.line === 1 ? p.col - 1 : 0), `value is not valid YAML: ${syntax.message}`, pathText);
    }
    const value = valueDoc.contents ?? new Scalar(null);
    for (const n of nodesUnder(value)) sourceMap.markOverride(n, { arg: argIndex, offset: eq + 1, lineCounter });

    if (!isMap(doc.contents)) doc.contents = new YAMLMap();
    let node: unknown = doc.contents;
    for (let i = 0; i < segments.length; i++) {
      const seg = segments[i] ?? '';
      const at = offsets[i] ?? 0;
      const last = i === segments.length - 1;
      if (isMap(node)) {
        const found = childPair(doc, node, seg);
        if (found?.pair) {
          if (last) found.pair.value = value;
          else if (found.node === null || (isScalar(found.node) && found.node.value === null)) {
            // `config:` with nothing after it: grow a mapping there.
            const created = new YAMLMap();
            sourceMap.markOverride(created, { arg: argIndex, offset: at });
            found.pair.value = created;
            node = created;
          } else node = found.node;
          continue;
        }
        if (i === 1 && segments[0] === 'stages') {
          const ids = node.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
          return problem(at, `no stage "${String(seg)}"${didYouMean(String(seg), ids)}`, pathText);
        }
        const key = new Scalar(seg);
        sourceMap.markOverride(key, { arg: argIndex, offset: at });
        added.push({ arg: argIndex, path: segments.slice(0, i + 1), offset: at });
        const created = last ? value : new YAMLMap();
        if (!last) sourceMap.markOverride(created, { arg: argIndex, offset: at });
        node.items.push(new Pair(key, created));
        node = created;
      } else if (isSeq(node)) {
        const found = childPair(doc, node, seg);
        if (!found) {
          if (typeof seg === 'number') return problem(at, `index ${seg} is past the end of a list of ${node.items.length}`, pathText);
          const ids = node.items.map((it) => (isMap(it) ? String(it.get('id')) : ''));
          return problem(at, `no stage "${seg}"${didYouMean(seg, ids)}`, pathText);
        }
        if (last) {
          if (typeof seg !== 'number') return problem(at, 'cannot replace a whole stage; set its fields', pathText);
          node.items[seg] = value;
        } else node = found.node;
      } else {
        return problem(at, `"${String(segments[i - 1] ?? '')}" holds a single value, so it has no "${String(seg)}"`, pathText);
      }
    }
  });
  return issues;
}
