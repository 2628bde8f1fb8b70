// Structural checks of a concept graph (paper Fig. 2 answer): everything the schema cannot express.
import type { ConceptGraph } from '../schemas/paper.js';
import { childrenOf, conceptIds, shortestPath } from './dag.js';
import type { GraphIssue } from './issues.js';

export interface GraphValidation {
  valid: boolean;
  issues: GraphIssue[];
}

const edge = (cause: string, effect: string) => `${cause} → ${effect}`;

/** Every problem of the graph, in a fixed order: ids, edges, then cycles (one per cyclic component). */
export function validateGraph(graph: ConceptGraph): GraphValidation {
  const issues: GraphIssue[] = [
    ...duplicateIds('concept', graph.concepts),
    ...duplicateIds('relationship', graph.relationships),
    ...edgeIssues(graph),
    ...cycleIssues(graph),
  ];
  return { valid: issues.length === 0, issues };
}

function duplicateIds(kind: 'concept' | 'relationship', items: { id: string }[]): GraphIssue[] {
  const positions = new Map<string, number[]>();
  for (const [i, item] of items.entries()) positions.set(item.id, [...(positions.get(item.id) ?? []), i]);
  const list = kind === 'concept' ? 'concepts' : 'relationships';
  return [...positions]
    .filter(([, at]) => at.length > 1)
    .map(([id, at]) => ({
      code: kind === 'concept' ? ('duplicate_concept_id' as const) : ('duplicate_relationship_id' as const),
      message: `${kind} id '${id}' is used ${at.length} times (${at.map((i) => `${list}[${i}]`).join(', ')})`,
      ids: [id],
    }));
}

function edgeIssues(graph: ConceptGraph): GraphIssue[] {
  const known = new Set(graph.concepts.map((c) => c.id));
  const firstWith = new Map<string, string>();
  const issues: GraphIssue[] = [];
  for (const r of graph.relationships) {
    const unknown = [r.cause_id, r.effect_id].filter((id, i, all) => !known.has(id) && all.indexOf(id) === i);
    if (unknown.length > 0) {
      const what = unknown.map((id) => `'${id}'`).join(' and ');
      issues.push({
        code: 'dangling_edge',
        message: `relationship '${r.id}' (${edge(r.cause_id, r.effect_id)}) refers to unknown concept id ${what}`,
        ids: [r.id, ...unknown],
      });
      continue;
    }
    if (r.cause_id === r.effect_id) {
      issues.push({
        code: 'self_edge',
        message: `relationship '${r.id}' is a self edge ${edge(r.cause_id, r.effect_id)}`,
        ids: [r.id, r.cause_id],
      });
      continue;
    }
    const key = `${r.cause_id}\u0000${r.effect_id}`;
    const first = firstWith.get(key);
    if (first === undefined) firstWith.set(key, r.id);
    else
      issues.push({
        code: 'duplicate_edge',
        message: `relationship '${r.id}' repeats ${edge(r.cause_id, r.effect_id)} of relationship '${first}'`,
        ids: [r.id, first, r.cause_id, r.effect_id],
      });
  }
  return issues;
}

/**
 * One issue per strongly connected component with more than one concept (self edges are reported
 * above). The cycle shown is the shortest one through the component's smallest id (sorted), so the
 * message does not depend on the order of the concepts.
 */
function cycleIssues(graph: ConceptGraph): GraphIssue[] {
  const children = childrenOf(graph);
  const reachable = new Map<string, Set<string>>();
  for (const id of children.keys()) {
    const seen = new Set<string>();
    const stack = [...children.get(id)!];
    while (stack.length > 0) {
      const at = stack.pop()!;
      if (seen.has(at)) continue;
      seen.add(at);
      stack.push(...children.get(at)!);
    }
    reachable.set(id, seen);
  }
  const assigned = new Set<string>();
  const issues: GraphIssue[] = [];
  for (const id of conceptIds(graph)) {
    if (assigned.has(id)) continue;
    const component = conceptIds(graph).filter(
      (other) => other !== id && reachable.get(id)!.has(other) && reachable.get(other)!.has(id),
    );
    if (component.length === 0) continue;
    const members = [id, ...component];
    for (const m of members) assigned.add(m);
    const start = [...members].sort()[0];
    const cycle = children
      .get(start)!
      .map((child) => shortestPath(children, child, start))
      .filter((p): p is string[] => p !== undefined)
      .reduce((best, p) => (p.length < best.length ? p : best));
    const path = [start, ...cycle];
    issues.push({
      code: 'cycle',
      message: `concepts ${members.map((m) => `'${m}'`).join(', ')} lie on cycles, e.g. ${path.join(' → ')}`,
      ids: members,
    });
  }
  return issues;
}
