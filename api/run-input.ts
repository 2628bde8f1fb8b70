// From an accepted HTTP request to the workflow's input (core/schemas/workflow-io.ts), validated by
// the workflow's own schema so the API cannot start a run the workflow would misread.
import type { ArtifactRef } from '../core/schemas/artifact.js';
import { type CounterfactualInput, CounterfactualInputSchema } from '../core/schemas/workflow-io.js';
import type { CounterfactualFields, DoRequest } from './schemas.js';

/**
 * The workflow input plus the user's do() requests. workflow-io.ts has no field for a bare
 * do(concept = value) yet (only full interventions); `do` rides along for the workflow to propagate
 * with the VLM (activities/vlm propagateIntervention) — see api/README.md, "open points".
 */
export type ApiRunInput = CounterfactualInput & { do?: DoRequest[] };

export function toWorkflowInput(runId: string, image: ArtifactRef, f: CounterfactualFields): ApiRunInput {
  const s = f.settings;
  const inversion = {
    ...(s.inversionSteps !== undefined && { numSteps: s.inversionSteps }),
    ...(s.skip !== undefined && { skip: s.skip }),
    ...(s.sourceGuidanceScale !== undefined && { sourceGuidanceScale: s.sourceGuidanceScale }),
  };
  const input = CounterfactualInputSchema.parse({
    runId,
    image,
    caption: f.caption ?? null,
    graph: f.graph,
    interventions: f.interventions,
    proposeCount: s.interventionsPerImage,
    methods: f.methods,
    planning: {
      ...(s.editGuidanceScale !== undefined && { scale: s.editGuidanceScale }),
      ...(s.editThreshold !== undefined && { threshold: s.editThreshold }),
      ...(s.editWarmupSteps !== undefined && { warmup: s.editWarmupSteps }),
    },
    engine: {
      ...(s.seed !== undefined && { seed: s.seed }),
      ...(Object.keys(inversion).length > 0 && { inversion }),
    },
    webhook: f.webhookUrl ? { url: f.webhookUrl } : undefined,
  });
  return f.do ? { ...input, do: f.do } : input;
}
