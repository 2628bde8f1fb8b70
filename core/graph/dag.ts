// Reachability and order over a concept graph. Edges with an unknown endpoint are ignored here
// (validateGraph reports them); a self edge or cycle makes topologicalOrder throw.
import type { ConceptGraph } from '../schemas/paper.js';

/** Thrown for a concept id the graph does not have. */
export class UnknownConceptError extends Error {
  constructor(readonly conceptId: string) {
    super(`unknown concept id '${conceptId}'`);
    this.name = 'UnknownConceptError';
  }
}

/** Thrown by topologicalOrder when the graph is cyclic; `ids` are the concepts left on or after cycles. */
export class CyclicGraphError extends Error {
  constructor(readonly ids: string[]) {
    super(`graph has a cycle through or after: ${ids.join(', ')}`);
    this.name = 'CyclicGraphError';
  }
}

/** Concept ids in graph order (first occurrence wins for duplicated ids). */
export function conceptIds(graph: ConceptGraph): string[] {
  return [...new Set(graph.concepts.map((c) => c.id))];
}

/** Children per concept id, in relationship-list order, deduplicated, dangling edges skipped. */
export function childrenOf(graph: ConceptGraph): Map<string, string[]> {
  const children = new Map<string, string[]>(conceptIds(graph).map((id) => [id, []]));
  for (const r of graph.relationships) {
    const list = children.get(r.cause_id);
    if (!list || !children.has(r.effect_id) || list.includes(r.effect_id)) continue;
    list.push(r.effect_id);
  }
  return children;
}

function parentsOf(graph: ConceptGraph): Map<string, string[]> {
  const parents = new Map<string, string[]>(conceptIds(graph).map((id) => [id, []]));
  for (const [cause, effects] of childrenOf(graph)) {
    for (const effect of effects) parents.get(effect)!.push(cause);
  }
  return parents;
}

/** Nodes reachable from `start` in one or more steps; `start` itself is left out even on a cycle. */
export function reach(next: Map<string, string[]>, start: string): Set<string> {
  if (!next.has(start)) throw new UnknownConceptError(start);
  const seen = new Set<string>();
  const stack = [...next.get(start)!];
  while (stack.length > 0) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...next.get(id)!);
  }
  seen.delete(start);
  return seen;
}

const inGraphOrder = (graph: ConceptGraph, set: Set<string>) => conceptIds(graph).filter((id) => set.has(id));

/** De(id): concepts reachable from id along edges, in graph order, without id itself. */
export function descendants(graph: ConceptGraph, id: string): string[] {
  return inGraphOrder(graph, reach(childrenOf(graph), id));
}

/** An(id): concepts from which id is reachable, in graph order, without id itself. */
export function ancestors(graph: ConceptGraph, id: string): string[] {
  return inGraphOrder(graph, reach(parentsOf(graph), id));
}

/** ND(id): every concept that is neither id nor one of its descendants, in graph order. */
export function nonDescendants(graph: ConceptGraph, id: string): string[] {
  const de = reach(childrenOf(graph), id);
  return conceptIds(graph).filter((c) => c !== id && !de.has(c));
}

/**
 * Kahn's algorithm; among ready concepts the one earliest in `graph.concepts` goes first, so the
 * order is deterministic and equals the input order whenever that order is already topological.
 */
export function topologicalOrder(graph: ConceptGraph): string[] {
  const ids = conceptIds(graph);
  const children = childrenOf(graph);
  const indegree = new Map(ids.map((id) => [id, 0]));
  for (const effects of children.values()) for (const e of effects) indegree.set(e, indegree.get(e)! + 1);
  const done = new Set<string>();
  const order: string[] = [];
  while (order.length < ids.length) {
    const next = ids.find((id) => !done.has(id) && indegree.get(id) === 0);
    if (next === undefined) throw new CyclicGraphError(ids.filter((id) => !done.has(id)));
    done.add(next);
    order.push(next);
    for (const e of children.get(next)!) indegree.set(e, indegree.get(e)! - 1);
  }
  return order;
}

/**
 * Shortest path from `from` to `to` (breadth first, neighbours in relationship order) as concept ids,
 * or undefined. Used to name the cycle an edge closes.
 */
export function shortestPath(
  children: Map<string, string[]>,
  from: string,
  to: string,
): string[] | undefined {
  const previous = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    if (id === to) {
      const path: string[] = [];
      for (let at: string | null = id; at !== null; at = previous.get(at)!) path.push(at);
      return path.reverse();
    }
    for (const child of children.get(id) ?? []) {
      if (!previous.has(child)) {
        previous.set(child, id);
        queue.push(child);
      }
    }
  }
  return undefined;
}
