// Paper Fig. 6: does the counterfactual show the intervention? The checklist is the target's new value
// and each propagated change to a descendant. Beyond the paper (off by default, docs/algorithm.md §8.6):
// the non-descendants with their current values as "must stay" items, scored separately.
import { descendants, nonDescendants } from '../../core/graph/dag.js';
import { judgePrompt } from '../../core/prompts/judge.js';
import type { EditMethod } from '../../core/schemas/edit-plan.js';
import {
  type ConceptGraph,
  type Intervention,
  type JudgeVerdict,
  JudgeVerdictSchema,
} from '../../core/schemas/paper.js';
import type { JudgeRecord, VlmAttempt } from '../../core/schemas/run-manifest.js';
import type { VlmContext } from './context.js';
import { invalidInput } from './failures.js';
import { type ImageInput, prepareImage } from './image-input.js';
import { validatedCall } from './validated-call.js';

export interface JudgeChecklistItem {
  concept_id: string;
  concept_name: string;
  expected_value: string;
  /** target / changed: the paper's checklist; unchanged: our must-stay items. */
  role: 'target' | 'changed' | 'unchanged';
}

/**
 * Expected values prefer final_concept_states (Fig. 3's "final value of every concept that
 * changed"), else the change's new_value. With a graph, changes outside De(target) are left out: no
 * method is meant to render them (they contradict the graph; the intervention check records them).
 */
export function judgeChecklist(
  intervention: Intervention,
  graph?: ConceptGraph,
  opts: { mustStay?: boolean } = {},
): JudgeChecklistItem[] {
  const target = intervention.target_concept_id;
  const nameOf = (id: string, fallback: string) =>
    graph?.concepts.find((c) => c.id === id)?.name ?? (fallback.trim() || id);
  const expected = (id: string, fallback: string) =>
    intervention.final_concept_states[id]?.trim() || fallback;
  const items: JudgeChecklistItem[] = [
    {
      concept_id: target,
      concept_name: nameOf(target, intervention.target_concept_name),
      expected_value: expected(target, intervention.new_value),
      role: 'target',
    },
  ];
  const de = graph ? new Set(descendants(graph, target)) : undefined;
  const listed = new Set([target]);
  for (const change of intervention.propagated_changes) {
    if (listed.has(change.concept_id) || (de && !de.has(change.concept_id))) continue;
    listed.add(change.concept_id);
    items.push({
      concept_id: change.concept_id,
      concept_name: nameOf(change.concept_id, change.concept_name),
      expected_value: expected(change.concept_id, change.new_value),
      role: 'changed',
    });
  }
  if (opts.mustStay && graph) {
    for (const id of nonDescendants(graph, target)) {
      const c = graph.concepts.find((x) => x.id === id)!;
      items.push({
        concept_id: id,
        concept_name: c.name,
        expected_value: c.current_value,
        role: 'unchanged',
      });
    }
  }
  return items;
}

export interface JudgeInput {
  /** The counterfactual image. */
  image: ImageInput;
  intervention: Intervention;
  /** Names concepts and limits the checklist to De(target); needed for mustStay. */
  graph?: ConceptGraph;
  /** Beyond the paper: add the non-descendants as "must stay" items. */
  mustStay?: boolean;
  /** Recorded with the attempts. */
  method?: EditMethod;
}

export interface JudgeResult {
  /** The verdict and the primary score: fraction of the paper's checklist items answered "yes". */
  judge: JudgeRecord;
  checklist: JudgeChecklistItem[];
  /** With mustStay: fraction of must-stay items answered "yes" (null when there are none). */
  preservationScore: number | null;
  attempts: VlmAttempt[];
  notes: string[];
}

const norm = (s: string) => s.trim().toLowerCase().replace(/\s+/g, ' ');

export async function judgeCounterfactual(ctx: VlmContext, input: JudgeInput): Promise<JudgeResult> {
  if (input.mustStay && !input.graph) {
    throw invalidInput(
      'mustStay: the must-stay checklist needs the graph (to find non-descendants); pass graph',
    );
  }
  const checklist = judgeChecklist(input.intervention, input.graph, { mustStay: input.mustStay });
  const iv = input.intervention;
  const image = await prepareImage(input.image);
  const { value, attempts, notes } = await validatedCall({
    ...ctx,
    prompt: 'judge',
    text: judgePrompt({
      generation_prompt: iv.generation_prompt,
      target_concept_name: checklist[0].concept_name,
      original_value: iv.original_value,
      new_value: iv.new_value,
      checklist,
    }),
    imageUrl: image.url,
    schema: { name: 'judge_verdict', zod: JudgeVerdictSchema },
    tag: { interventionId: iv.id, ...(input.method ? { method: input.method } : {}) },
    check: (verdict) => matchChecks(verdict, checklist, iv.id),
  });
  const paper = value.answers.filter((a) => a.item.role !== 'unchanged');
  const stay = value.answers.filter((a) => a.item.role === 'unchanged');
  const score = (xs: typeof paper) =>
    xs.length === 0 ? null : xs.filter((a) => a.present).length / xs.length;
  return {
    judge: { verdict: value.verdict, checklistScore: score(paper) ?? 0 },
    checklist,
    preservationScore: score(stay),
    attempts,
    notes,
  };
}

type Matched = { verdict: JudgeVerdict; answers: { item: JudgeChecklistItem; present: boolean }[] };

/** Every checklist item needs an answer, matched by concept name (in order, for repeated names). */
function matchChecks(
  verdict: JudgeVerdict,
  checklist: JudgeChecklistItem[],
  interventionId: string,
): { ok: true; value: Matched; notes: string[] } | { ok: false; error: string } {
  const pool = [...verdict.concept_checks];
  const answers: Matched['answers'] = [];
  const missing: string[] = [];
  for (const item of checklist) {
    const i = pool.findIndex((c) => norm(c.concept_name) === norm(item.concept_name));
    if (i === -1) missing.push(`${item.concept_name} (expected ${item.expected_value})`);
    else answers.push({ item, present: pool.splice(i, 1)[0].present === 'yes' });
  }
  if (missing.length > 0) {
    return {
      ok: false,
      error: `concept_checks has no answer for checklist item(s): ${missing.join(', ')}; answer every checklist item, with concept_name exactly as in the checklist`,
    };
  }
  const notes: string[] = [];
  if (verdict.intervention_id !== interventionId) {
    notes.push(
      `judge answered for intervention_id '${verdict.intervention_id}', recorded as '${interventionId}'`,
    );
  }
  if (pool.length > 0)
    notes.push(`judge added checks not on the checklist: ${pool.map((c) => c.concept_name).join(', ')}`);
  return { ok: true, value: { verdict: { ...verdict, intervention_id: interventionId }, answers }, notes };
}
