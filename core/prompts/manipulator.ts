// Paper Fig. 3, "Concept manipulator prompt", verbatim; plus our variant for a user-given do().
import { PAPER_DEFAULTS } from '../config/paper-defaults.js';
import type { ConceptGraph } from '../schemas/paper.js';
import { JSON_ONLY } from './common.js';

/** Paper §6: three interventions per image. */
export const DEFAULT_INTERVENTION_COUNT = PAPER_DEFAULTS.interventionsPerImage;

export interface ManipulatorPromptParams {
  scene_summary: string;
  /** JSON text of the graph's concepts. */
  concepts_json: string;
  /** JSON text of the graph's relationships. */
  relationships_json: string;
  /** Y, given to the VLM as the reference prompt for generation_prompt. */
  base_prompt: string;
  /** How many manipulations to ask for; the paper asks for 3. */
  interventions?: number;
}

/** Fills scene_summary, concepts_json and relationships_json from a graph. */
export function manipulatorParamsFromGraph(
  graph: ConceptGraph,
  base_prompt: string,
): Omit<ManipulatorPromptParams, 'interventions'> {
  return {
    scene_summary: graph.scene_summary,
    concepts_json: JSON.stringify(graph.concepts, null, 2),
    relationships_json: JSON.stringify(graph.relationships, null, 2),
    base_prompt,
  };
}

const preamble = (p: ManipulatorPromptParams) =>
  `You are an expert at understanding visual scenes and reasoning about how changing one thing in a scene affects other things. ${JSON_ONLY} You are given an image, a description of the scene it shows, a list of concepts present in it, and a list of relationships that describe how those concepts influence one another.
<scene_summary> ${p.scene_summary} </scene_summary> <concepts>
${p.concepts_json}
</concepts> <relationships>
${p.relationships_json}
</relationships>
Your task:`;

// Steps 2–4 of Fig. 3, shared by the paper's prompt and our single-intervention variant.
const stepsTwoToFour = (p: ManipulatorPromptParams, one: boolean) =>
  `2. WORK OUT WHAT ELSE CHANGES
For ${one ? 'this' : 'each'} manipulation, think through every concept that would be different as a result of the changed concept. For each concept that changes, write its new value in 1–3 descriptive, unambiguous words that combine the concept variable and value (e.g. "wet road"). DO NOT INCLUDE CONCEPTS THAT STAY THE SAME.
3. LIST FINAL STATE OF ALL CONCEPTS THAT CHANGED
Record the final value of every concept that changed. Each value must combine the concept variable and its new value into 1–3 words (e.g., "black hair").
4. WRITE AN IMAGE GENERATION PROMPT
Write a generation_prompt that adds to or modifies the following reference prompt: <reference_prompt> ${p.base_prompt} </reference_prompt>`;

const answerFormat = (target: { id: string; name: string; original: string; value: string } | undefined) => {
  const q = (s: string | undefined) => (s === undefined ? '"..."' : JSON.stringify(s));
  return `Return ONLY the following JSON:
{
  "interventions": [{"id": "intervention_1", "target_concept_id": ${q(target?.id)}, "target_concept_name": ${q(target?.name)}, "intervention_description": "...", "original_value": ${q(target?.original)},
  "new_value": ${q(target?.value)},
      "propagated_changes": [{"concept_id": "...", "concept_name": "...", "original_value": "...", "new_value": "...", "reason": "..."}],
      "final_concept_states": { "c1": "value", "c2": "value" },
      "generation_prompt": "..."
    }
  ]
}`;
};

/**
 * The paper's Fig. 3. With a count other than 3 only the number changes; the sentence asking for
 * one concept that affects many, one few and one none stays as the paper wrote it.
 */
export function manipulatorPrompt(p: ManipulatorPromptParams): string {
  const n = p.interventions ?? DEFAULT_INTERVENTION_COUNT;
  return `${preamble(p)}
1. PROPOSE ${n} DIVERSE MANIPULATIONS
• Each manipulation changes a DIFFERENT concept to a new value.
• Manipulations should produce visually distinct scenes.
• Pick one concept that affects many others, one that affects only a few, and one that affects none.
• Keep each manipulation realistic and physically plausible.
${stepsTwoToFour(p, false)}
${answerFormat(undefined)}`;
}

export interface UserInterventionPromptParams extends Omit<ManipulatorPromptParams, 'interventions'> {
  target_concept_id: string;
  target_concept_name: string;
  original_value: string;
  new_value: string;
}

/**
 * Ours, not the paper's: Fig. 3 with step 1 replaced by a user-given do(concept = value), so the VLM
 * only propagates that one intervention. Steps 2–4 and the answer format are the paper's, with the
 * target fields pre-filled so the answer parses with the same InterventionSetSchema.
 */
export function userInterventionPrompt(p: UserInterventionPromptParams): string {
  return `${preamble(p)}
1. APPLY THIS ONE MANIPULATION
• do(${p.target_concept_name} = ${p.new_value}): the concept "${p.target_concept_name}" (id ${p.target_concept_id}) changes from "${p.original_value}" to "${p.new_value}".
• Do not propose any other manipulation; return exactly one intervention.
${stepsTwoToFour(p, true)}
${answerFormat({ id: p.target_concept_id, name: p.target_concept_name, original: p.original_value, value: p.new_value })}`;
}
