/**
 * The stage graph: nodes are stages (by their index in the spec), an edge producer → consumer for
 * every input reference. Cycle finding (Tarjan's strongly connected components) and a deterministic
 * topological order (Kahn, always taking the ready stage that comes first in the spec).
 *
 *   make ──► left ──┐
 *      └───► right ─┴─► combine        topoOrder = [make, left, right, combine]
 *
 * Pure: workflows may import it.
 */

export interface Edge {
  readonly producer: number;
  readonly consumer: number;
}

/** Successors of each node, sorted and deduplicated. */
function successors(n: number, edges: readonly Edge[]): number[][] {
  const out = Array.from({ length: n }, () => new Set<number>());
  for (const e of edges) out[e.producer]?.add(e.consumer);
  return out.map((s) => [...s].sort((a, b) => a - b));
}

/**
 * One cycle per strongly connected component that has one, in data-flow order, starting at the
 * component's first stage in spec order and closed implicitly (a → b → c means c feeds a).
 * A stage that feeds itself is the cycle [a].
 */
export function findCycles(n: number, edges: readonly Edge[]): number[][] {
  const succ = successors(n, edges);
  const index = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const stack: number[] = [];
  const components: number[][] = [];
  let next = 0;
  const strongConnect = (v: number): void => {
    index[v] = low[v] = next++;
    stack.push(v);
    onStack[v] = true;
    for (const w of succ[v] ?? []) {
      if (index[w] === -1) {
        strongConnect(w);
        low[v] = Math.min(low[v] ?? 0, low[w] ?? 0);
      } else if (onStack[w]) low[v] = Math.min(low[v] ?? 0, index[w] ?? 0);
    }
    if (low[v] === index[v]) {
      const comp: number[] = [];
      for (;;) {
        const w = stack.pop();
        if (w === undefined) break;
        onStack[w] = false;
        comp.push(w);
        if (w === v) break;
      }
      components.push(comp.sort((a, b) => a - b));
    }
  };
  for (let v = 0; v < n; v++) if (index[v] === -1) strongConnect(v);

  const cycles: number[][] = [];
  for (const comp of components) {
    const start = comp[0];
    if (start === undefined) continue;
    if (comp.length === 1 && !(succ[start] ?? []).includes(start)) continue;
    // Shortest way from start back to start inside the component (BFS, successors in spec order).
    const inComp = new Set(comp);
    const parent = new Map<number, number>();
    const queue = [start];
    let closing: number | undefined;
    for (let qi = 0; qi < queue.length && closing === undefined; qi++) {
      const v: number = queue[qi] ?? start;
      for (const w of succ[v] ?? []) {
        if (w === start) {
          closing = v;
          break;
        }
        if (inComp.has(w) && !parent.has(w)) {
          parent.set(w, v);
          queue.push(w);
        }
      }
    }
    const cycle: number[] = [];
    for (let v: number | undefined = closing; v !== undefined && v !== start; v = parent.get(v)) cycle.unshift(v);
    cycles.push([start, ...cycle]);
  }
  return cycles.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
}

/** Topological order; ties go to the stage that comes first in the spec. Assumes no cycles. */
export function topoOrder(n: number, edges: readonly Edge[]): number[] {
  const succ = successors(n, edges);
  const indegree = new Array<number>(n).fill(0);
  for (const s of succ) for (const w of s) indegree[w] = (indegree[w] ?? 0) + 1;
  const ready = new Set<number>();
  for (let v = 0; v < n; v++) if (indegree[v] === 0) ready.add(v);
  const order: number[] = [];
  while (ready.size > 0) {
    const v = Math.min(...ready);
    ready.delete(v);
    order.push(v);
    for (const w of succ[v] ?? []) {
      indegree[w] = (indegree[w] ?? 0) - 1;
      if (indegree[w] === 0) ready.add(w);
    }
  }
  return order;
}
