// Checks a Fig. 3 intervention against the graph: the VLM may only change descendants of the target
// (paper §5.2: De(Ci) updated, ND(Ci) preserved).
import type { ConceptGraph, Intervention } from '../schemas/paper.js';
import { conceptIds, descendants } from './dag.js';
import type { GraphIssue, InterventionCheck } from './issues.js';

/**
 * Violations: unknown target, unknown propagated concept ids, changes outside De(target), unknown
 * keys of final_concept_states. Notes (informational): unchanged descendants, the target or a concept
 * repeated among the propagated changes.
 */
export function checkIntervention(graph: ConceptGraph, intervention: Intervention): InterventionCheck {
  const known = new Set(conceptIds(graph));
  const target = intervention.target_concept_id;
  const iv = intervention.id;
  const violations: GraphIssue[] = [];
  const notes: GraphIssue[] = [];

  const targetKnown = known.has(target);
  if (!targetKnown) {
    violations.push({
      code: 'unknown_target',
      message: `intervention '${iv}': target_concept_id '${target}' is not a concept of the graph`,
      ids: [target],
    });
  }
  const de = targetKnown ? descendants(graph, target) : [];
  const deSet = new Set(de);

  const changed = new Set<string>();
  const nonDescendantChanges: string[] = [];
  for (const change of intervention.propagated_changes) {
    const id = change.concept_id;
    if (id === target) {
      notes.push({
        code: 'target_in_propagated_changes',
        message: `intervention '${iv}': the target '${id}' is listed again among propagated_changes`,
        ids: [id],
      });
      continue;
    }
    if (changed.has(id) || nonDescendantChanges.includes(id)) {
      notes.push({
        code: 'duplicate_propagated_change',
        message: `intervention '${iv}': concept '${id}' is changed more than once; the first change counts`,
        ids: [id],
      });
      continue;
    }
    if (!known.has(id)) {
      nonDescendantChanges.push(id);
      violations.push({
        code: 'unknown_propagated_concept',
        message: `intervention '${iv}': propagated change of unknown concept id '${id}'`,
        ids: [id],
      });
    } else if (targetKnown && !deSet.has(id)) {
      nonDescendantChanges.push(id);
      violations.push({
        code: 'non_descendant_change',
        message: `intervention '${iv}': concept '${id}' is changed but is not a descendant of the target '${target}'`,
        ids: [id, target],
      });
    } else {
      changed.add(id);
    }
  }

  const unchanged = de.filter((id) => !changed.has(id));
  if (unchanged.length > 0) {
    notes.push({
      code: 'unchanged_descendant',
      message: `intervention '${iv}': descendants of '${target}' left unchanged: ${unchanged.join(', ')}`,
      ids: unchanged,
    });
  }

  const unknownKeys = Object.keys(intervention.final_concept_states).filter((k) => !known.has(k));
  if (unknownKeys.length > 0) {
    violations.push({
      code: 'unknown_final_state_key',
      message: `intervention '${iv}': final_concept_states has unknown concept ids: ${unknownKeys.join(', ')}`,
      ids: unknownKeys,
    });
  }

  return {
    intervention_id: iv,
    ok: violations.length === 0,
    violations,
    notes,
    descendants: de,
    unchanged_descendants: unchanged,
    non_descendant_changes: nonDescendantChanges,
  };
}
