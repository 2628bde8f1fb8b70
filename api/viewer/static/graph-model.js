// @ts-check
// What the run page draws of a causal graph: the ELK input (nodes, edges, and edges a repair removed)
// and, per intervention, which concepts are intervened, descendants, changed or in violation. Pure, so
// the unit tests import it as is; the manifest's own check (check.descendants) is preferred over
// recomputing, which is only the fallback for manifests without it.

/**
 * @typedef {{ id: string, name: string, current_value: string, description?: string }} Concept
 * @typedef {{ id: string, cause_id: string, effect_id: string, description?: string }} Relationship
 * @typedef {{ concepts: Concept[], relationships: Relationship[] }} ConceptGraph
 * @typedef {{ kind: string, relationship_id: string, cause_id: string, effect_id: string, reason: string }} GraphRepair
 * @typedef {{ code: string, message: string, ids: string[] }} GraphIssue
 * @typedef {{ graph: ConceptGraph, issues: GraphIssue[], repairs: GraphRepair[] }} GraphRecord
 * @typedef {{ concept_id: string, concept_name?: string, original_value?: string, new_value: string, reason?: string }} PropagatedChange
 * @typedef {{ id: string, target_concept_id: string, target_concept_name?: string, original_value?: string, new_value: string, propagated_changes: PropagatedChange[] }} Intervention
 * @typedef {{ violations: GraphIssue[], descendants: string[] }} InterventionCheck
 * @typedef {{ intervention: Intervention, check?: InterventionCheck }} InterventionRecord
 */

export const NODE_SIZE = { width: 180, height: 56 };

/** Concepts reachable from `id` along cause → effect edges, in graph order. @param {ConceptGraph} graph @param {string} id */
export function descendantsOf(graph, id) {
  const seen = new Set();
  const stack = [id];
  while (stack.length > 0) {
    const at = stack.pop();
    for (const r of graph.relationships) {
      if (r.cause_id === at && !seen.has(r.effect_id) && r.effect_id !== id) {
        seen.add(r.effect_id);
        stack.push(r.effect_id);
      }
    }
  }
  return graph.concepts.map((c) => c.id).filter((c) => seen.has(c));
}

/**
 * Edges a repair took out of the graph, drawn marked; only those whose ends are both concepts.
 * @param {GraphRecord} record
 */
export function removedEdges(record) {
  const ids = new Set(record.graph.concepts.map((c) => c.id));
  return record.repairs
    .filter((r) => r.kind.startsWith('removed_') && ids.has(r.cause_id) && ids.has(r.effect_id))
    .map((r, i) => ({ id: `removed:${i}`, cause_id: r.cause_id, effect_id: r.effect_id, repair: r }));
}

/**
 * ELK's input: a layered, top-down layout of the repaired graph plus the removed edges.
 * @param {GraphRecord} record
 */
export function elkInput(record) {
  const edges = [
    ...record.graph.relationships.map((r) => ({
      id: `rel:${r.id}`,
      sources: [r.cause_id],
      targets: [r.effect_id],
    })),
    ...removedEdges(record).map((e) => ({ id: e.id, sources: [e.cause_id], targets: [e.effect_id] })),
  ];
  return {
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'POLYLINE',
      'elk.spacing.nodeNode': '28',
      'elk.layered.spacing.nodeNodeBetweenLayers': '44',
    },
    children: record.graph.concepts.map((c) => ({ id: c.id, ...NODE_SIZE })),
    edges,
  };
}

/**
 * The marks of one intervention on the graph (or only the graph's own issues when none is chosen).
 * @param {GraphRecord} record
 * @param {InterventionRecord | null} chosen
 */
export function graphMarks(record, chosen) {
  const known = new Set(record.graph.concepts.map((c) => c.id));
  /** @type {Set<string>} */
  const violations = new Set();
  for (const issue of record.issues) for (const id of issue.ids) if (known.has(id)) violations.add(id);
  if (!chosen) return { target: null, descendants: new Set(), changed: new Map(), violations };

  const iv = chosen.intervention;
  const descendants = new Set(chosen.check?.descendants ?? descendantsOf(record.graph, iv.target_concept_id));
  /** @type {Map<string, string>} concept id → new value */
  const changed = new Map([[iv.target_concept_id, iv.new_value]]);
  for (const p of iv.propagated_changes) changed.set(p.concept_id, p.new_value);
  for (const v of chosen.check?.violations ?? [])
    for (const id of v.ids) if (known.has(id)) violations.add(id);
  return { target: iv.target_concept_id, descendants, changed, violations };
}
