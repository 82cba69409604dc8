/**
 * YamlSourceMap: resolves spec paths to line:column in the YAML document (or in a `--set`
 * argument when an override put the value there). Paths address stages by id in both the map and
 * the list form, and aliases translate normalised paths (sweep.axes[0]) back to what the user
 * wrote (sweep.grid["stages.a.config.k"]).
 */
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import { parsePath, pathStartsWith, type PathSegment } from './path';
import type { SourceMap, SourcePosition } from './types';

export const OVERRIDE_FILE = '<--set>';

/** Where an override's nodes came from: argument `arg` (0-based), the node text starting at `offset`. */
export interface OverrideOrigin {
  readonly arg: number;
  /** 0-based offset in the argument of the text the node was parsed from. */
  readonly offset: number;
  /** Line counter of the parsed value text; absent for nodes created for a path segment. */
  readonly lineCounter?: LineCounter;
}

interface Alias {
  readonly from: readonly PathSegment[];
  readonly to: readonly PathSegment[];
  /** The target is the key of the pair at `to`. */
  readonly key: boolean;
}

/** Child of a YAML collection by spec path segment; a list of stages is searched by `id`. */
export function childPair(doc: Document, node: unknown, seg: PathSegment): { pair?: Pair; node: unknown } | undefined {
  const n = isAlias(node) ? node.resolve(doc) : node;
  if (isMap(n)) {
    const pair = n.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
    return pair ? { pair, node: pair.value } : undefined;
  }
  if (isSeq(n)) {
    if (typeof seg === 'number') return seg < n.items.length ? { node: n.items[seg] } : undefined;
    const item = n.items.find((it) => isMap(it) && isScalar(it.get('id', true)) && String(it.get('id')) === seg);
    return item === undefined ? undefined : { node: item };
  }
  return undefined;
}

export class YamlSourceMap implements SourceMap {
  private readonly aliases: Alias[] = [];
  private readonly origins = new Map<unknown, OverrideOrigin>();

  constructor(
    readonly document: Document,
    private readonly lineCounter: LineCounter,
    private readonly file: string,
  ) {}

  /** Paths under `from` are looked up under `to` (or at the key of `to` when key is true). */
  alias(from: readonly PathSegment[], to: readonly PathSegment[], key = false): void {
    this.aliases.push({ from, to, key });
    this.aliases.sort((a, b) => b.from.length - a.from.length);
  }

  /** Marks a node (and everything below it) as coming from a `--set` argument. */
  markOverride(node: unknown, origin: OverrideOrigin): void {
    this.origins.set(node, origin);
  }

  locate(path: string, part: 'key' | 'value' = 'value'): SourcePosition {
    const parsed = parsePath(path);
    return this.locateSegments(parsed.ok ? parsed.value.segments : [], part);
  }

  locateSegments(path: readonly PathSegment[], part: 'key' | 'value' = 'value'): SourcePosition {
    let segs = path;
    let wantKey = part === 'key';
    const alias = this.aliases.find((a) => pathStartsWith(path, a.from));
    if (alias) {
      segs = [...alias.to, ...path.slice(alias.from.length)];
      if (alias.key && path.length === alias.from.length) wantKey = true;
    }
    let node: unknown = this.document.contents;
    let best: unknown = node;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] ?? '';
      const c = childPair(this.document, node, seg);
      if (!c) break;
      const last = i === segs.length - 1;
      if (last && wantKey && c.pair) {
        best = c.pair.key;
        break;
      }
      // `key:` with nothing after it: point at the key.
      best = c.node ?? c.pair?.key ?? best;
      node = c.node;
      if (c.node === null || c.node === undefined) break;
    }
    return this.positionOf(best);
  }

  /** Position of a node of this document (or of an override). */
  positionOf(node: unknown): SourcePosition {
    const origin = this.originOf(node);
    const range = isNodeWithRange(node) ? node.range : undefined;
    if (origin) {
      if (origin.lineCounter && range) {
        const p = origin.lineCounter.linePos(range[0]);
        return { file: OVERRIDE_FILE, line: origin.arg + 1, column: origin.offset + (p.line === 1 ? p.col : 1) };
      }
      return { file: OVERRIDE_FILE, line: origin.arg + 1, column: origin.offset + 1 };
    }
    if (!range) return { file: this.file, line: 1, column: 1 };
    const p = this.lineCounter.linePos(range[0]);
    return { file: this.file, line: p.line, column: p.col };
  }

  private originOf(node: unknown): OverrideOrigin | undefined {
    return this.origins.get(node);
  }
}

function isNodeWithRange(n: unknown): n is Node & { range: [number, number, number] } {
  return typeof n === 'object' && n !== null && 'range' in n && Array.isArray((n as { range?: unknown }).range);
}

/** Every node inside `node` (itself included), for marking an override's parsed value. */
export function nodesUnder(node: unknown): unknown[] {
  const out: unknown[] = [node];
  if (isMap(node) || isSeq(node)) {
    for (const it of node.items) {
      if (isPair(it)) out.push(...nodesUnder(it.key), ...nodesUnder(it.value));
      else out.push(...nodesUnder(it));
    }
  }
  return out;
}
