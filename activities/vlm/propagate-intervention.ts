// A user-given do(concept = value): the VLM only propagates it (our variant of Fig. 3, see
// core/prompts/manipulator.ts userInterventionPrompt).
import { manipulatorParamsFromGraph, userInterventionPrompt } from '../../core/prompts/manipulator.js';
import { type ConceptGraph, InterventionSetSchema } from '../../core/schemas/paper.js';
import type { InterventionRecord, VlmAttempt } from '../../core/schemas/run-manifest.js';
import type { VlmContext } from './context.js';
import { invalidInput } from './failures.js';
import { type ImageInput, prepareImage } from './image-input.js';
import {
  checkInterventionSet,
  type InterventionCheckOptions,
  requireText,
  requireValidGraph,
} from './intervention-checks.js';
import { validatedCall } from './validated-call.js';

export interface PropagateInterventionInput {
  image: ImageInput;
  graph: ConceptGraph;
  basePrompt: string;
  /** The intervened concept: its id (c2) or its name (case-insensitive, "hair color"). */
  concept: string;
  /** The value set by do(), e.g. "black hair". */
  value: string;
}

export interface PropagateInterventionResult {
  intervention: InterventionRecord;
  attempts: VlmAttempt[];
  notes: string[];
}

export async function propagateIntervention(
  ctx: VlmContext,
  input: PropagateInterventionInput,
  opts: Omit<InterventionCheckOptions, 'extra'> = {},
): Promise<PropagateInterventionResult> {
  requireValidGraph(input.graph);
  const basePrompt = requireText(
    input.basePrompt,
    'basePrompt',
    'the Fig. 3 reference_prompt: caption or scene description',
  );
  const value = requireText(input.value, 'value', 'the new value of do(concept = value)');
  const wanted = requireText(input.concept, 'concept', 'the concept id or name of do(concept = value)');
  const target =
    input.graph.concepts.find((c) => c.id === wanted) ??
    input.graph.concepts.find((c) => c.name.trim().toLowerCase() === wanted.toLowerCase());
  if (!target) {
    const known = input.graph.concepts.map((c) => `${c.id} (${c.name})`).join(', ');
    throw invalidInput(
      `concept: '${wanted}' is neither an id nor a name of a concept of the graph; known: ${known}`,
    );
  }
  if (target.current_value.trim().toLowerCase() === value.toLowerCase()) {
    throw invalidInput(
      `value: do(${target.name} = ${value}) changes nothing; '${value}' is already the current value`,
    );
  }
  const image = await prepareImage(input.image);
  const {
    value: records,
    attempts,
    notes,
  } = await validatedCall({
    ...ctx,
    prompt: 'propagate',
    text: userInterventionPrompt({
      ...manipulatorParamsFromGraph(input.graph, basePrompt),
      target_concept_id: target.id,
      target_concept_name: target.name,
      original_value: target.current_value,
      new_value: value,
    }),
    imageUrl: image.url,
    schema: { name: 'intervention_set', zod: InterventionSetSchema },
    check: (set, final) =>
      checkInterventionSet(input.graph, set, final, {
        ...opts,
        extra: (s) => [
          ...(s.interventions.length === 1
            ? []
            : [`expected exactly one intervention (the given do()), got ${s.interventions.length}`]),
          ...s.interventions
            .filter((iv) => iv.target_concept_id !== target.id)
            .map(
              (iv) =>
                `intervention '${iv.id}': target_concept_id must be '${target.id}' (the given do()), got '${iv.target_concept_id}'`,
            ),
        ],
      }),
  });
  const record: InterventionRecord = { ...records[0], source: 'user' };
  if (record.intervention.new_value.trim().toLowerCase() !== value.toLowerCase()) {
    notes.push(`the VLM rephrased the new value '${value}' as '${record.intervention.new_value}'`);
  }
  return { intervention: record, attempts, notes };
}
