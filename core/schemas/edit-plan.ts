// What the engine is asked to do for one intervention and one method: the output of planEdits
// (core/graph/plan-edits.ts), recorded in the run manifest. Mapping rules: docs/algorithm.md §8.
import { z } from 'zod';
import { ALL_EDIT_METHODS } from '../constants.js';
import { GraphIssueSchema } from '../graph/issues.js';

export const EditMethodSchema = z.enum(ALL_EDIT_METHODS);
export type EditMethod = z.infer<typeof EditMethodSchema>;

/** Why a concept is in the plan: the do() target, a changed descendant, or an opt-in non-descendant. */
export const EditRoleSchema = z.enum(['intervened', 'descendant', 'non_descendant_extra']);
export type EditRole = z.infer<typeof EditRoleSchema>;

/** One CSG guidance term (LEDITS++ editing prompt with its own scale, threshold, warmup and direction). */
export const EditConceptSchema = z.object({
  prompt: z.string().min(1),
  role: EditRoleSchema,
  conceptId: z.string().min(1),
  scale: z.number().positive(),
  threshold: z.number().min(0).max(1),
  warmup: z.number().int().nonnegative(),
  /** true: guide away from the prompt (used for old values when reverseOldValues is on). */
  reverse: z.boolean(),
});
export type EditConcept = z.infer<typeof EditConceptSchema>;

/** A concept whose attention region is kept out of the edit masks (protectNonDescendants). */
export const ProtectedConceptSchema = z.object({
  conceptId: z.string().min(1),
  prompt: z.string().min(1),
});
export type ProtectedConcept = z.infer<typeof ProtectedConceptSchema>;

/** The choices the paper leaves open; recorded in every plan so runs can be compared by them. */
export const EditChoicesSchema = z.object({
  /** Edit prompt text: the VLM's new_value phrase as given (paper), or "concept name: value". */
  promptStyle: z.enum(['new_value', 'name_value']),
  /** Also edit changes the VLM proposed for non-descendants (they contradict the graph). */
  includeNonDescendantChanges: z.boolean(),
  /** Add a reverse-direction term for the old value of every edited concept (beyond the paper). */
  reverseOldValues: z.boolean(),
  /** Subtract non-descendants' attention regions from the edit masks (beyond the paper). */
  protectNonDescendants: z.boolean(),
  /**
   * CSG's base noise estimate (docs/algorithm.md "Two readings of Eq. 12"): 'unconditional' is
   * LEDITS++'s form (ε_u plus a masked term for the intervened concept and one per changed
   * descendant); 'interventional' is the paper's Eq. 12 as written (ε on the interventional prompt,
   * unmasked, plus masked terms for the changed descendants only). planEdits always sets it; absent
   * only in plans made before the choice existed, which were all 'unconditional'.
   */
  csgBase: z.enum(['unconditional', 'interventional']).optional(),
});
export type EditChoices = z.infer<typeof EditChoicesSchema>;

const common = {
  interventionId: z.string().min(1),
  /** Y, the base prompt the image is inverted with. */
  sourcePrompt: z.string().min(1),
  choices: EditChoicesSchema,
  /** The intervention's disagreements with the graph (checkIntervention violations). */
  violations: z.array(GraphIssueSchema),
};

export const CsgEditPlanSchema = z.object({
  method: z.literal('csg'),
  ...common,
  /**
   * The masked guidance terms. With csgBase 'unconditional', concepts[0] is the intervened concept's
   * new value, then the changed descendants; with 'interventional', the changed descendants, or the
   * intervened concept's value alone when none changed (the paper's fallback).
   */
  concepts: z.array(EditConceptSchema).min(1),
  protectedConcepts: z.array(ProtectedConceptSchema),
  /** Y_{C_i} of Eq. 12 (the intervention's generation_prompt); present iff csgBase is 'interventional'. */
  interventionalPrompt: z.string().min(1).optional(),
});
export type CsgEditPlan = z.infer<typeof CsgEditPlanSchema>;

/** DDIM / DDPM inversion baselines: CFG with the fully specified prompt (paper "Implementation"). */
export const BaselineEditPlanSchema = z.object({
  method: z.enum(['ddpm', 'ddim']),
  ...common,
  /** The intervention's generation_prompt. */
  targetPrompt: z.string().min(1),
});
export type BaselineEditPlan = z.infer<typeof BaselineEditPlanSchema>;

export const EditPlanSchema = z.discriminatedUnion('method', [CsgEditPlanSchema, BaselineEditPlanSchema]);
export type EditPlan = z.infer<typeof EditPlanSchema>;
