// Deterministic repair of a VLM concept graph into a DAG; every change is recorded (never silent).
import type { ConceptGraph, Relationship } from '../schemas/paper.js';
import { shortestPath } from './dag.js';
import type { GraphRepair } from './issues.js';

export interface GraphRepairResult {
  graph: ConceptGraph;
  repairs: GraphRepair[];
}

/**
 * Rules, applied in this order:
 * 1. A relationship id used again is renamed `<id>_<k>` (smallest k ≥ 2 not in use), so every
 *    later record names one edge.
 * 2. Edges with an unknown endpoint, self edges, and repeats of an earlier cause → effect pair are removed.
 * 3. Cycles: the relationships are added one by one in list order, and an edge that would close a
 *    cycle with the edges kept so far is removed. So a removed edge is always the LAST-listed edge of
 *    the cycle it closes (the VLM's latest, and we assume least considered, claim), every removed edge
 *    lies on a cycle of the input, and the result is acyclic and maximal (no removed edge can be put
 *    back without a cycle). The outcome depends only on the relationships' order, not on the concepts'
 *    order nor on any search order; the recorded cycle is the shortest one through the kept edges.
 * Duplicate concept ids are not repaired: which concept an edge means is ambiguous, so the graph
 * stays invalid and validateGraph still reports them.
 */
export function repairGraph(graph: ConceptGraph): GraphRepairResult {
  const repairs: GraphRepair[] = [];
  const record = (
    kind: GraphRepair['kind'],
    r: Relationship,
    reason: string,
    extra: Partial<GraphRepair> = {},
  ) =>
    repairs.push({
      kind,
      relationship_id: r.id,
      cause_id: r.cause_id,
      effect_id: r.effect_id,
      reason,
      ...extra,
    });

  const used = new Set(graph.relationships.map((r) => r.id));
  const seenIds = new Set<string>();
  const renamed = graph.relationships.map((r) => {
    if (!seenIds.has(r.id)) {
      seenIds.add(r.id);
      return r;
    }
    let k = 2;
    while (used.has(`${r.id}_${k}`)) k++;
    const newId = `${r.id}_${k}`;
    used.add(newId);
    seenIds.add(newId);
    record('renamed_relationship_id', r, `relationship id '${r.id}' was already used`, { new_id: newId });
    return { ...r, id: newId };
  });

  const known = new Set(graph.concepts.map((c) => c.id));
  const pairs = new Set<string>();
  const clean: Relationship[] = [];
  for (const r of renamed) {
    const pair = `${r.cause_id}\u0000${r.effect_id}`;
    if (!known.has(r.cause_id) || !known.has(r.effect_id)) {
      const missing = [r.cause_id, r.effect_id].filter((id) => !known.has(id));
      record(
        'removed_dangling_edge',
        r,
        `unknown concept id ${missing.map((id) => `'${id}'`).join(' and ')}`,
      );
    } else if (r.cause_id === r.effect_id) {
      record('removed_self_edge', r, `self edge ${r.cause_id} → ${r.effect_id}`, {
        cycle: [r.cause_id, r.cause_id],
      });
    } else if (pairs.has(pair)) {
      record('removed_duplicate_edge', r, `repeats an earlier edge ${r.cause_id} → ${r.effect_id}`);
    } else {
      pairs.add(pair);
      clean.push(r);
    }
  }

  const kept: Relationship[] = [];
  const children = new Map<string, string[]>([...known].map((id) => [id, []]));
  for (const r of clean) {
    const back = shortestPath(children, r.effect_id, r.cause_id);
    if (back) {
      const cycle = [r.cause_id, ...back];
      record('removed_cycle_edge', r, `last-listed edge of the cycle ${cycle.join(' → ')}`, { cycle });
    } else {
      children.get(r.cause_id)!.push(r.effect_id);
      kept.push(r);
    }
  }
  return { graph: { ...graph, relationships: kept }, repairs };
}
