// The JSON the paper's three VLM prompts ask for (FM-CGM, Fig. 2, 3 and 6), field names verbatim.
// These are the schemas VLM answers are validated against, and from which the JSON Schema for
// structured output is generated (core/schemas/json-schema.ts).
import { z } from 'zod';

// Trimmed, then at least one character: as a pattern (not min(1)), so the JSON Schema states it too.
const text = (what: string) => z.string().trim().regex(/\S/, `${what} must be a non-empty string`);

/** Fig. 2, PART 1: one concept (node of the causal graph). */
export const ConceptSchema = z.object({
  id: text('concept id').describe('short unique identifier (c1, c2, …)'),
  name: text('concept name').describe('concise label (2-5 words)'),
  current_value: text('current_value').describe('specific observable state (1–3 words)'),
  description: z.string().describe('one sentence explanation'),
});
export type Concept = z.infer<typeof ConceptSchema>;

/** Fig. 2, PART 2: one directed edge cause → effect. */
export const RelationshipSchema = z.object({
  id: text('relationship id').describe('unique identifier (r1, r2, …)'),
  cause_id: text('cause_id').describe('id of the causing concept'),
  effect_id: text('effect_id').describe('id of the effected concept'),
  description: z.string().describe('one sentence: how/why the cause produces the effect'),
});
export type Relationship = z.infer<typeof RelationshipSchema>;

/** Fig. 2: the extractor's whole answer: concepts, a DAG over them, and a one-sentence summary. */
export const ConceptGraphSchema = z.object({
  concepts: z.array(ConceptSchema).min(1, 'a concept graph needs at least one concept'),
  relationships: z.array(RelationshipSchema),
  scene_summary: z.string().describe('one-sentence scene summary'),
});
export type ConceptGraph = z.infer<typeof ConceptGraphSchema>;

/** Fig. 3: a concept that changes as a consequence of an intervention. */
export const PropagatedChangeSchema = z.object({
  concept_id: text('concept_id'),
  concept_name: z.string(),
  original_value: z.string(),
  new_value: text('new_value').describe(
    '1–3 descriptive words combining variable and value, e.g. "wet road"',
  ),
  reason: z.string(),
});
export type PropagatedChange = z.infer<typeof PropagatedChangeSchema>;

/** Fig. 3: one intervention do(target = new_value) with its propagation and target prompt. */
export const InterventionSchema = z.object({
  id: text('intervention id'),
  target_concept_id: text('target_concept_id'),
  target_concept_name: z.string(),
  intervention_description: z.string(),
  original_value: z.string(),
  new_value: text('new_value'),
  propagated_changes: z.array(PropagatedChangeSchema),
  final_concept_states: z.record(z.string(), z.string()),
  generation_prompt: text('generation_prompt'),
});
export type Intervention = z.infer<typeof InterventionSchema>;

/** Fig. 3: the manipulator's whole answer. */
export const InterventionSetSchema = z.object({
  interventions: z.array(InterventionSchema).min(1, 'at least one intervention is required'),
});
export type InterventionSet = z.infer<typeof InterventionSetSchema>;

/** Fig. 6: one checklist answer of the effectiveness judge. */
export const ConceptCheckSchema = z.object({
  concept_name: z.string(),
  expected_value: z.string(),
  present: z.enum(['yes', 'no']),
});
export type ConceptCheck = z.infer<typeof ConceptCheckSchema>;

export const VerdictSchema = z.enum(['success', 'partial', 'failure']);
export type Verdict = z.infer<typeof VerdictSchema>;

/** Fig. 6: the judge's whole answer. */
export const JudgeVerdictSchema = z.object({
  intervention_id: z.string(),
  concept_checks: z.array(ConceptCheckSchema),
  verdict: VerdictSchema,
  reasoning: z.string(),
});
export type JudgeVerdict = z.infer<typeof JudgeVerdictSchema>;
