// Paper Fig. 6, "VLM effectiveness evaluation prompt", verbatim (\rightarrow rendered as →).
import type { ConceptGraph, Intervention } from '../schemas/paper.js';
import { JSON_ONLY } from './common.js';

export interface ChecklistItem {
  concept_name: string;
  expected_value: string;
}

export interface JudgePromptParams {
  generation_prompt: string;
  target_concept_name: string;
  original_value: string;
  new_value: string;
  checklist: readonly ChecklistItem[];
}

/** The paper does not show {checklist_text}; ours is one "• name: expected value" line per item. */
export function renderChecklist(items: readonly ChecklistItem[]): string {
  return items.map((i) => `• ${i.concept_name}: ${i.expected_value}`).join('\n');
}

/**
 * Checklist of the changed concepts with their expected values (docs/algorithm.md §8.6: from
 * final_concept_states), in the answer's key order. A name comes from the graph, else from the
 * intervention, else the id is used.
 */
export function checklistFor(intervention: Intervention, graph?: ConceptGraph): ChecklistItem[] {
  const nameOf = (id: string) =>
    graph?.concepts.find((c) => c.id === id)?.name ??
    (id === intervention.target_concept_id ? intervention.target_concept_name : undefined) ??
    intervention.propagated_changes.find((c) => c.concept_id === id)?.concept_name ??
    id;
  return Object.entries(intervention.final_concept_states).map(([id, value]) => ({
    concept_name: nameOf(id),
    expected_value: value,
  }));
}

export function judgePrompt(p: JudgePromptParams): string {
  return `You look at images and answer simple questions about what is shown in them.
${JSON_ONLY}
Look at the given image. It was generated with the following prompt: <prompt> ${p.generation_prompt} </prompt> The one thing that was changed to produce this image was:
 ${p.target_concept_name}: ${p.original_value} → ${p.new_value}
Below is a checklist of concepts and the value each one should have in the image.
<checklist>
${renderChecklist(p.checklist)}
</checklist>
Your task:
1. CHECKLIST EVALUATION
For each item in the checklist, answer "yes" if that value is clearly present in the image, or "no" if it is not.
2. VERDICT ASSIGNMENT
• "success" — all checklist items are "yes"
• "partial" — most checklist items are "yes" but some are wrong
• "failure" — the main changed concept is not visible, OR most checklist items are "no"
3. REASONING
Write one or two sentences explaining your verdict.
Return ONLY the following JSON:
{
  "intervention_id": "...",
  "concept_checks": [
      {
      "concept_name": "...",
      "expected_value": "...",
      "present": "yes|no"
      }
  ],
  "verdict": "success|partial|failure",
  "reasoning": "..."
}`;
}
