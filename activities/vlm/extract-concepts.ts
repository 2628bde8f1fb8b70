// Paper Fig. 2: concepts + causal DAG. Structural problems the graph module can repair (cycles,
// dangling/self/duplicate edges) are repaired and recorded; the rest (duplicate concept ids) are
// sent back to the model.
import { repairGraph } from '../../core/graph/repair.js';
import { validateGraph } from '../../core/graph/validate.js';
import { extractorPrompt } from '../../core/prompts/extractor.js';
import { ConceptGraphSchema } from '../../core/schemas/paper.js';
import type { GraphRecord, VlmAttempt } from '../../core/schemas/run-manifest.js';
import type { VlmContext } from './context.js';
import { invalidInput } from './failures.js';
import { type ImageInput, prepareImage } from './image-input.js';
import { validatedCall } from './validated-call.js';

export interface ExtractConceptsInput {
  image: ImageInput;
  /** The context description: the caption, or the scene description (base prompt Y). */
  caption: string;
}

export interface ExtractConceptsResult {
  /** Original answer, its issues, the repairs, and the DAG later stages use (run manifest shape). */
  graph: GraphRecord;
  attempts: VlmAttempt[];
  notes: string[];
}

export async function extractConcepts(
  ctx: VlmContext,
  input: ExtractConceptsInput,
): Promise<ExtractConceptsResult> {
  const caption = input.caption?.trim() ?? '';
  if (caption === '') {
    throw invalidInput(
      'caption: the extractor needs a context description (paper Fig. 2 {prompt}), got an empty string; pass the caption or run describeScene first',
    );
  }
  const image = await prepareImage(input.image);
  const { value, attempts, notes } = await validatedCall({
    ...ctx,
    prompt: 'extract',
    text: extractorPrompt({ prompt: caption }),
    imageUrl: image.url,
    schema: { name: 'concept_graph', zod: ConceptGraphSchema },
    check: (original) => {
      const { issues } = validateGraph(original);
      const { graph, repairs } = repairGraph(original);
      const after = validateGraph(graph);
      if (!after.valid) {
        return {
          ok: false,
          error: `the graph is not usable: ${after.issues.map((i) => i.message).join('; ')}`,
        };
      }
      const record: GraphRecord = { source: 'vlm', original, issues, repairs, graph };
      return {
        ok: true,
        value: record,
        notes: repairs.map((r) => `repaired: ${r.kind} ${r.relationship_id} (${r.reason})`),
      };
    },
  });
  return { graph: value, attempts, notes };
}
