// What graph checks report: typed findings that travel into the run manifest, so they are zod schemas.
import { z } from 'zod';

export const GraphIssueCodeSchema = z.enum([
  // concept graph (paper Fig. 2 answer)
  'duplicate_concept_id',
  'duplicate_relationship_id',
  'dangling_edge',
  'self_edge',
  'duplicate_edge',
  'cycle',
  // intervention (paper Fig. 3 answer) against the graph
  'unknown_target',
  'unknown_propagated_concept',
  'non_descendant_change',
  'duplicate_propagated_change',
  'target_in_propagated_changes',
  'unchanged_descendant',
  'unknown_final_state_key',
]);
export type GraphIssueCode = z.infer<typeof GraphIssueCodeSchema>;

/** One finding; `ids` are the concept and/or relationship ids involved, `message` names them too. */
export const GraphIssueSchema = z.object({
  code: GraphIssueCodeSchema,
  message: z.string(),
  ids: z.array(z.string()),
});
export type GraphIssue = z.infer<typeof GraphIssueSchema>;

export const GraphRepairKindSchema = z.enum([
  'renamed_relationship_id',
  'removed_dangling_edge',
  'removed_self_edge',
  'removed_duplicate_edge',
  'removed_cycle_edge',
]);
export type GraphRepairKind = z.infer<typeof GraphRepairKindSchema>;

/** One change `repairGraph` made; nothing is dropped without one of these (conventions: errors). */
export const GraphRepairSchema = z.object({
  kind: GraphRepairKindSchema,
  relationship_id: z.string(),
  cause_id: z.string(),
  effect_id: z.string(),
  /** For cycle edges: the cycle as concept ids, first = last, e.g. [c1, c2, c3, c1]. */
  cycle: z.array(z.string()).optional(),
  /** For renamed ids: the new id. */
  new_id: z.string().optional(),
  reason: z.string(),
});
export type GraphRepair = z.infer<typeof GraphRepairSchema>;

/** Result of checking one intervention against the (repaired) graph. */
export const InterventionCheckSchema = z.object({
  intervention_id: z.string(),
  /** True when there are no violations (notes are informational). */
  ok: z.boolean(),
  violations: z.array(GraphIssueSchema),
  notes: z.array(GraphIssueSchema),
  /** Descendants of the target in graph (concept) order; empty when the target is unknown. */
  descendants: z.array(z.string()),
  /** Descendants the VLM left unchanged (paper: allowed, they need not change). */
  unchanged_descendants: z.array(z.string()),
  /** Concept ids of propagated changes that are not descendants of the target (known or unknown). */
  non_descendant_changes: z.array(z.string()),
});
export type InterventionCheck = z.infer<typeof InterventionCheckSchema>;
