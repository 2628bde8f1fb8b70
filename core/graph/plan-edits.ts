// Graph + intervention → edit plans (docs/algorithm.md §8). Pure, so the workflow may call it.

import { PAPER_DEFAULTS } from '../config/paper-defaults.js';
import type {
  BaselineEditPlan,
  CsgEditPlan,
  EditChoices,
  EditConcept,
  EditMethod,
  EditPlan,
  EditRole,
} from '../schemas/edit-plan.js';
import type { ConceptGraph, Intervention } from '../schemas/paper.js';
import { checkIntervention } from './check-intervention.js';
import { conceptIds, nonDescendants } from './dag.js';

/** Paper "Implementation": edit guidance scale 8.0, edit threshold 0.7, 10 warmup steps. */
export const CSG_EDIT_DEFAULTS = {
  scale: PAPER_DEFAULTS.editGuidanceScale,
  threshold: PAPER_DEFAULTS.editThreshold,
  warmup: PAPER_DEFAULTS.editWarmupSteps,
} as const;

/**
 * Defaults follow the paper's evident reading; everything beyond the paper is off. CSG's base term is
 * Eq. 12 as written ('interventional'): on the causal world it beats LEDITS++'s unconditional form on
 * every ground-truth measure (docs/world.md "Two readings of Eq. 12").
 */
export const DEFAULT_EDIT_CHOICES: EditChoices = {
  promptStyle: 'new_value',
  includeNonDescendantChanges: false,
  reverseOldValues: false,
  protectNonDescendants: false,
  csgBase: 'interventional',
};

export interface PlanEditsOptions extends Partial<EditChoices> {
  /** Y: the dataset caption or the VLM's scene description. */
  sourcePrompt: string;
  /** Methods to plan for, in this order; default all three. */
  methods?: readonly EditMethod[];
  scale?: number;
  threshold?: number;
  warmup?: number;
}

/** One plan per method for one intervention. The graph should already be repaired (acyclic). */
export function planEdits(
  graph: ConceptGraph,
  intervention: Intervention,
  options: PlanEditsOptions,
): EditPlan[] {
  const choices: EditChoices = {
    promptStyle: options.promptStyle ?? DEFAULT_EDIT_CHOICES.promptStyle,
    includeNonDescendantChanges:
      options.includeNonDescendantChanges ?? DEFAULT_EDIT_CHOICES.includeNonDescendantChanges,
    reverseOldValues: options.reverseOldValues ?? DEFAULT_EDIT_CHOICES.reverseOldValues,
    protectNonDescendants: options.protectNonDescendants ?? DEFAULT_EDIT_CHOICES.protectNonDescendants,
    csgBase: options.csgBase ?? DEFAULT_EDIT_CHOICES.csgBase,
  };
  const check = checkIntervention(graph, intervention);
  const common = {
    interventionId: intervention.id,
    sourcePrompt: options.sourcePrompt,
    choices,
    violations: check.violations,
  };
  return (options.methods ?? ['csg', 'ddpm', 'ddim']).map((method): EditPlan => {
    if (method === 'csg') return planCsg(graph, intervention, options, common, check.descendants);
    const plan: BaselineEditPlan = { method, ...common, targetPrompt: intervention.generation_prompt };
    return plan;
  });
}

function planCsg(
  graph: ConceptGraph,
  intervention: Intervention,
  options: PlanEditsOptions,
  common: Omit<CsgEditPlan, 'method' | 'concepts' | 'protectedConcepts'>,
  descendantIds: string[],
): CsgEditPlan {
  const { choices } = common;
  const known = new Set(conceptIds(graph));
  const nameOf = (id: string, fallback: string) => graph.concepts.find((c) => c.id === id)?.name ?? fallback;
  const phrase = (name: string, value: string) =>
    choices.promptStyle === 'name_value' ? `${name}: ${value}` : value;
  const term = (role: EditRole, conceptId: string, prompt: string, reverse: boolean): EditConcept => ({
    prompt,
    role,
    conceptId,
    scale: options.scale ?? CSG_EDIT_DEFAULTS.scale,
    threshold: options.threshold ?? CSG_EDIT_DEFAULTS.threshold,
    warmup: options.warmup ?? CSG_EDIT_DEFAULTS.warmup,
    reverse,
  });

  const target = intervention.target_concept_id;
  const targetName = nameOf(target, intervention.target_concept_name);
  type Edit = { role: EditRole; id: string; name: string; value: string; old: string };
  const intervened: Edit = {
    role: 'intervened',
    id: target,
    name: targetName,
    value: intervention.new_value,
    old: intervention.original_value,
  };
  // Each entry: a concept to edit, with its old value for the optional reverse term. LEDITS++'s form
  // edits the intervened concept as a masked term; Eq. 12 as written carries it in the base prompt.
  const interventional = choices.csgBase === 'interventional';
  const edits: Edit[] = interventional ? [] : [intervened];
  const de = new Set(descendantIds);
  const seen = new Set([target]);
  for (const change of intervention.propagated_changes) {
    const id = change.concept_id;
    if (seen.has(id)) continue; // target repeated, or a second change of one concept: first wins
    seen.add(id);
    // Unknown concept ids are never edited: there is no concept to name or to protect.
    const role: EditRole | undefined = de.has(id)
      ? 'descendant'
      : known.has(id) && choices.includeNonDescendantChanges
        ? 'non_descendant_extra'
        : undefined;
    if (role) {
      edits.push({
        role,
        id,
        name: nameOf(id, change.concept_name),
        value: change.new_value,
        old: change.original_value,
      });
    }
  }

  // The paper's fallback: with no changed descendant, the intervened concept's value is a term too.
  if (interventional && !edits.some((e) => e.role === 'descendant')) edits.unshift(intervened);
  const concepts: EditConcept[] = edits.map((e) => term(e.role, e.id, phrase(e.name, e.value), false));
  if (choices.reverseOldValues) {
    for (const e of edits) {
      if (e.old.trim() !== '') concepts.push(term(e.role, e.id, phrase(e.name, e.old), true));
    }
  }

  const edited = new Set([target, ...edits.map((e) => e.id)]);
  const protectedConcepts =
    choices.protectNonDescendants && known.has(target)
      ? nonDescendants(graph, target)
          .filter((id) => !edited.has(id))
          .map((id) => {
            const c = graph.concepts.find((x) => x.id === id)!;
            return { conceptId: id, prompt: phrase(c.name, c.current_value) };
          })
      : [];

  return {
    method: 'csg',
    ...common,
    concepts,
    protectedConcepts,
    ...(interventional ? { interventionalPrompt: intervention.generation_prompt } : {}),
  };
}
