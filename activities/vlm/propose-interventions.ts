// Paper Fig. 3: the VLM proposes interventions (3 in the paper) and propagates each through the DAG.
import {
  DEFAULT_INTERVENTION_COUNT,
  manipulatorParamsFromGraph,
  manipulatorPrompt,
} from '../../core/prompts/manipulator.js';
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

export interface ProposeInterventionsInput {
  image: ImageInput;
  /** A valid DAG (the extract step's `graph.graph`). */
  graph: ConceptGraph;
  /** Y: the caption or scene description, the Fig. 3 reference_prompt. */
  basePrompt: string;
  /** Paper: 3. */
  count?: number;
}

export interface ProposeInterventionsResult {
  /** Each intervention with its check against the graph (run manifest shape). */
  interventions: InterventionRecord[];
  attempts: VlmAttempt[];
  notes: string[];
}

export async function proposeInterventions(
  ctx: VlmContext,
  input: ProposeInterventionsInput,
  opts: InterventionCheckOptions = {},
): Promise<ProposeInterventionsResult> {
  requireValidGraph(input.graph);
  const basePrompt = requireText(
    input.basePrompt,
    'basePrompt',
    'the Fig. 3 reference_prompt: caption or scene description',
  );
  const count = input.count ?? DEFAULT_INTERVENTION_COUNT;
  if (!Number.isInteger(count) || count < 1)
    throw invalidInput(`count: expected an integer ≥ 1, got ${count}`);
  const image = await prepareImage(input.image);
  const { value, attempts, notes } = await validatedCall({
    ...ctx,
    prompt: 'manipulate',
    text: manipulatorPrompt({ ...manipulatorParamsFromGraph(input.graph, basePrompt), interventions: count }),
    imageUrl: image.url,
    schema: { name: 'intervention_set', zod: InterventionSetSchema },
    check: (set, final) => checkInterventionSet(input.graph, set, final, opts),
  });
  if (value.length !== count) notes.push(`asked for ${count} interventions, got ${value.length}`);
  return { interventions: value, attempts, notes };
}
